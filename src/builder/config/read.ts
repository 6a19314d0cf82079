// Reading a config file: JSON with positions. A syntax error points at
// file:line:col; every top-level key remembers where it was written, so a
// refused value can be reported at its line.
import fs from 'node:fs';
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';

export interface ConfigFile {
  file: string;
  values: Record<string, unknown>;
  /** Line/column of each top-level key. */
  keyAt: (key: string) => Location;
}

export function readConfig(file: string, log: DiagnosticLog): ConfigFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const what = err.code === 'ENOENT' ? 'not found' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    log.error(Code.ConfigUnreadable, `config file ${what}: ${file}`, { file });
    return undefined;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    // V8's messages differ between versions and some omit the position: find it ourselves.
    const pos = syntaxErrorAt(text);
    const what = pos >= text.length ? 'unexpected end of file' : `unexpected ${JSON.stringify(text[pos])}`;
    log.error(Code.ConfigBadJson, `config is not valid JSON: ${what}`, { file, ...lineCol(text, pos) });
    return undefined;
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    log.error(Code.ConfigBadJson, 'config must be a JSON object of model settings', { file, line: 1, col: 1 });
    return undefined;
  }
  const keys = topLevelKeys(text);
  return {
    file,
    values: values as Record<string, unknown>,
    keyAt: (key) => {
      const p = keys.get(key);
      return p === undefined ? { file } : { file, ...lineCol(text, p) };
    },
  };
}

/** Offset of the first JSON syntax error in `text` (a small recursive-descent scan). */
function syntaxErrorAt(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new JsonError(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const expect = (c: string) => (text[i] === c ? i++ : fail());
  const string = () => {
    expect('"');
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      i += text[i] === '\\' ? 2 : 1;
    }
    expect('"');
  };
  const list = (close: string, item: () => void) => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      ws();
      if (text[i] === ',') {
        i++;
        ws();
      } else return void expect(close);
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return list('}', () => (string(), ws(), expect(':'), value()));
    if (c === '[') return list(']', value);
    if (c === '"') return string();
    const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    num.lastIndex = i;
    if (num.test(text)) return void (i = num.lastIndex);
    for (const lit of ['true', 'false', 'null']) if (text.startsWith(lit, i)) return void (i += lit.length);
    fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (e) {
    if (e instanceof JsonError) return e.offset;
    throw e;
  }
  return text.length;
}

class JsonError {
  constructor(readonly offset: number) {}
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return { line, col };
}

/** Offsets of the keys of the outermost object (text already known to be valid JSON). */
function topLevelKeys(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      if (text[j] === ':') {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (!out.has(key)) out.set(key, start);
      }
    }
  }
  return out;
}
