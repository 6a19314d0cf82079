// JSON Schemas for editors and for other tools, generated from the zod
// schemas (the source of truth). Each file's owner declares its SchemaFile;
// src/schemas.ts lists them, `npm run schemas` writes them to schemas/, and a
// test fails when a checked-in file is stale.
import { z } from 'zod';

export interface SchemaFile {
  file: string;
  schema: z.ZodType;
  title: string;
  /** Validate what users write (defaults optional) or what tools emit. */
  io: 'input' | 'output';
}

export function renderSchema(s: SchemaFile): string {
  const json = z.toJSONSchema(s.schema, { io: s.io, unrepresentable: 'any' }) as Record<string, unknown>;
  return JSON.stringify({ $id: `https://pocketdiff.dev/schemas/${s.file}`, title: s.title, ...json }, null, 2) + '\n';
}
