// Checking a value against a published JSON Schema (the files in schemas/,
// generated from zod) with ajv: artifacts before they are written and when
// they are read, so what a tool reads always validates against what we publish.
import * as ajv2020 from 'ajv/dist/2020.js';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { renderSchema, type SchemaFile } from './json-schema.ts';

// ajv is CommonJS: under ESM its class arrives as the default export.
const Ajv2020 = ajv2020.default as unknown as typeof ajv2020.Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map<SchemaFile, ReturnType<typeof ajv.compile>>();

export function validateAgainst(schema: SchemaFile, value: unknown, log: DiagnosticLog, what: string): boolean {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(JSON.parse(renderSchema(schema)));
    validators.set(schema, v);
  }
  if (v(value)) return true;
  for (const e of v.errors ?? []) {
    log.error(
      Code.ArtifactInvalid,
      `${what} does not validate against schemas/${schema.file}: ${e.instancePath || '/'} ${e.message}`,
    );
  }
  return false;
}
