// JSON Schemas for editors and for other tools, generated from the zod
// schemas (the source of truth). `npm run schemas` writes them to schemas/;
// a test fails when a checked-in file is stale.
import { z } from 'zod';
import { manifestSchema } from '../artifact/manifest.ts';
import { deviceProfileSchema } from '../devices/schema.ts';
import { recipeSchema } from './schema.ts';

export interface SchemaFile {
  file: string;
  schema: z.ZodType;
  title: string;
  /** Validate what users write (defaults optional) or what tools emit. */
  io: 'input' | 'output';
}

export const SCHEMA_FILES: SchemaFile[] = [
  { file: 'recipe.schema.json', schema: recipeSchema, title: 'pocketdiff recipe', io: 'input' },
  { file: 'manifest.schema.json', schema: manifestSchema, title: 'pocketdiff artifact manifest', io: 'output' },
  { file: 'device-profile.schema.json', schema: deviceProfileSchema, title: 'pocketdiff device profile', io: 'input' },
];

export function renderSchema(s: SchemaFile): string {
  const json = z.toJSONSchema(s.schema, { io: s.io, unrepresentable: 'any' }) as Record<string, unknown>;
  return JSON.stringify({ $id: `https://pocketdiff.dev/schemas/${s.file}`, title: s.title, ...json }, null, 2) + '\n';
}
