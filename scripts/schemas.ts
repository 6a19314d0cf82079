// Writes schemas/*.json from the zod schemas (`npm run schemas`).
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_FILES } from '../src/schemas.ts';
import { renderSchema } from '../src/schema/json-schema.ts';

const dir = path.join(import.meta.dirname, '..', 'schemas');
fs.mkdirSync(dir, { recursive: true });
for (const s of SCHEMA_FILES) {
  fs.writeFileSync(path.join(dir, s.file), renderSchema(s));
  console.log(`wrote schemas/${s.file}`);
}
