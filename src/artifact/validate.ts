// Artifacts are checked against the published JSON Schemas (the files in
// schemas/, generated from zod) with ajv before they are written, so what a
// tool reads always validates against what we publish.
import * as ajv2020 from 'ajv/dist/2020.js';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { SCHEMA_FILES, renderSchema } from '../recipe/json-schema.ts';

// ajv is CommonJS: under ESM its class arrives as the default export.
const Ajv2020 = ajv2020.default as unknown as typeof ajv2020.Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

export function validateAgainst(schemaFile: string, value: unknown, log: DiagnosticLog, what: string): boolean {
  let v = validators.get(schemaFile);
  if (!v) {
    const s = SCHEMA_FILES.find((f) => f.file === schemaFile);
    if (!s) throw new Error(`no schema ${schemaFile}`);
    v = ajv.compile(JSON.parse(renderSchema(s)));
    validators.set(schemaFile, v);
  }
  if (v(value)) return true;
  for (const e of v.errors ?? []) {
    log.error(Code.ArtifactInvalid, `${what} does not validate against schemas/${schemaFile}: ${e.instancePath || '/'} ${e.message}`);
  }
  return false;
}
