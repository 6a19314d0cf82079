// The tool version written into every artifact, read from package.json once.
import fs from 'node:fs';
import path from 'node:path';

export const TOOL_VERSION: string = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')).version;
