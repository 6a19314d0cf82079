// The JSON Schema files pocketdiff publishes in schemas/, one per format it
// reads or writes: what `npm run schemas` writes and the stale-file tests check.
import { MANIFEST_SCHEMA } from './artifact/manifest.ts';
import { DEVICE_PROFILE_SCHEMA } from './devices/schema.ts';
import { DISTILL_PLAN_SCHEMA } from './distill/plan-schema.ts';
import { RECIPE_SCHEMA } from './recipe/schema.ts';
import type { SchemaFile } from './schema/json-schema.ts';

export const SCHEMA_FILES: readonly SchemaFile[] = [
  RECIPE_SCHEMA,
  MANIFEST_SCHEMA,
  DEVICE_PROFILE_SCHEMA,
  DISTILL_PLAN_SCHEMA,
];
