// A YAML source with positions: parsing keeps the document so any value path
// (`['schedule', 'steps']`) maps back to file:line:col for diagnostics.
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node as YamlNode,
  type YAMLError,
} from 'yaml';
import type { Location } from '../diagnostics.ts';
import type { Path } from '../schema/shape.ts';

export type { Path };

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly value: unknown,
  ) {}

  static parse(file: string, text: string): { source: YamlSource; error?: { message: string; at: Location } } {
    const deep = tooDeep(text);
    if (deep !== undefined) {
      // Thousands of levels overflow the parser's stack (and V8's regexp
      // compiler aborts the process when that happens inside it): refuse first.
      const before = text.slice(0, deep);
      const line = before.split('\n').length;
      const message = `nested more than ${MAX_DEPTH} levels deep here (a recipe needs 4)`;
      return {
        source: new YamlSource(file, parseDocument(''), new LineCounter(), undefined),
        error: { message, at: { file, line, col: deep - before.lastIndexOf('\n') } },
      };
    }
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
    const at = (offset: number): Location => ({ file, ...lines.linePos(offset) });
    if (doc.errors.length) {
      const { message, offset } = syntaxError(doc, text, lines);
      return { source: new YamlSource(file, doc, lines, undefined), error: { message, at: at(offset) } };
    }
    // Aliases are resolved only when converting: an unknown anchor or an
    // alias bomb throws there, and is the user's mistake, not ours.
    const alias = firstAlias(doc, (a) => a.resolve(doc) === undefined);
    if (alias) {
      const message = `unknown alias '*${alias.source}' (its anchor '&${alias.source}' must come before it)`;
      return { source: new YamlSource(file, doc, lines, undefined), error: { message, at: at(alias.range?.[0] ?? 0) } };
    }
    const run = runOnValue(doc, text, lines);
    if (run)
      return {
        source: new YamlSource(file, doc, lines, undefined),
        error: { message: run.message, at: at(run.offset) },
      };
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (e) {
      const first = firstAlias(doc, () => true);
      return {
        source: new YamlSource(file, doc, lines, undefined),
        error: { message: (e as Error).message, at: at(first?.range?.[0] ?? 0) },
      };
    }
    return { source: new YamlSource(file, doc, lines, value) };
  }

  toJS(): unknown {
    return this.value;
  }

  /** Depth of `path` that exists in this document (0 = only the root). */
  depth(path: Path): number {
    let node: unknown = this.doc.contents;
    let d = 0;
    for (const key of path) {
      node = child(node, key);
      if (node === undefined) break;
      d++;
    }
    return d;
  }

  /** Position of the value at `path`, or of its deepest existing ancestor. */
  locate(path: Path, opts: { key?: boolean } = {}): Location {
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    for (const key of path) {
      const next = child(node, key, (k) => (keyNode = k));
      if (next === undefined) break;
      node = next;
    }
    const target = opts.key && keyNode ? keyNode : node;
    const range = (target as YamlNode | undefined)?.range;
    if (!range) return { file: this.file, line: 1, col: 1 };
    const p = this.lines.linePos(range[0]);
    return { file: this.file, line: p.line, col: p.col };
  }

  /** Position of key `name` inside the mapping at `path`. */
  locateKey(path: Path, name: string): Location {
    return this.locate([...path, name], { key: true });
  }
}

function child(node: unknown, key: string | number, onKey?: (k: unknown) => void): unknown {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    if (!pair) return undefined;
    onKey?.(pair.key);
    return pair.value ?? pair.key;
  }
  if (isSeq(node) && typeof key === 'number') {
    onKey?.(undefined);
    return node.items[key];
  }
  return undefined;
}

type AliasNode = { source: string; range?: [number, number, number] | null; resolve(doc: Document): unknown };

function firstAlias(doc: Document, pred: (a: AliasNode) => boolean): AliasNode | undefined {
  let found: AliasNode | undefined;
  visit(doc, {
    Alias(_, node) {
      if (!found && pred(node as unknown as AliasNode)) found = node as unknown as AliasNode;
    },
  });
  return found;
}

/**
 * The first YAML error, placed where a reader would fix it: an unclosed
 * quote or bracket at its opening (the parser notices only at the end), a
 * wrongly indented `key:` on its own line rather than at the value above it.
 */
function syntaxError(doc: Document, text: string, lines: LineCounter): { message: string; offset: number } {
  const lineText = (n: number) =>
    text.slice(lines.lineStarts[n - 1], lines.lineStarts[n] ?? text.length).replace(/\r?\n$/, '');
  const indentOf = (n: number) => /^ */.exec(lineText(n))![0].length;
  const spaces = (n: number) => `${n} space${n === 1 ? '' : 's'}`;
  const multiline = doc.errors.find((e) => e.code === 'MULTILINE_IMPLICIT_KEY');
  if (multiline) {
    // A key indented deeper than the key above it: YAML reads it as more of that key's value.
    const startLine = lines.linePos(multiline.pos[0]).line;
    const endLine = lines.linePos(multiline.pos[1]).line;
    if (endLine > startLine) {
      const here = indentOf(endLine);
      const above = indentOf(startLine);
      return {
        message: `line ${endLine} is indented ${spaces(here)}, deeper than line ${startLine} (${spaces(above)}), so YAML reads it as more of line ${startLine}'s value rather than a key of its own; keys of one mapping start in the same column`,
        offset: lines.lineStarts[endLine - 1] + here,
      };
    }
  }
  const compact = doc.errors.find(
    (e) => e.code === 'BLOCK_AS_IMPLICIT_KEY' || (e.code === 'BAD_INDENT' && /compact mappings/.test(e.message)),
  );
  if (compact && !multiline) {
    // `steps: 8 spacing: trailing`, or `schedule: steps: 8`: a second `key:` on the line of a value.
    const line = lines.linePos(compact.pos[0]).line;
    const key = /^\s*(?:- )?([^:#]+):\s+(.*)$/.exec(lineText(line));
    const rest = key?.[2] ?? '';
    const second = /([^\s:]+):(\s|$)/.exec(rest);
    return {
      message: `line ${line} has a second 'key:' after '${key?.[1]?.trim() ?? ''}:' (${second ? `'${second[1]}:'` : 'a colon and a space'}); put each key on its own line, or quote a value that contains ': '`,
      offset: compact.pos[0],
    };
  }
  const tab = doc.errors.find((e) => e.code === 'TAB_AS_INDENT');
  if (tab) {
    const line = lines.linePos(tab.pos[0]).line;
    return { message: `line ${line} is indented with a tab; YAML indents with spaces only`, offset: tab.pos[0] };
  }
  const misaligned = doc.errors.find((e) => e.code === 'BAD_INDENT' && /same column/.test(e.message));
  if (misaligned) {
    const line = lines.linePos(misaligned.pos[0]).line;
    const here = indentOf(line);
    // The nearest line above that starts a key at another indentation: the mapping it does not line up with.
    let above = line - 1;
    while (above > 0 && (!/^\s*[^\s#-][^:]*:/.test(lineText(above)) || indentOf(above) === here)) above--;
    const there = above > 0 ? indentOf(above) : 0;
    return {
      message: `line ${line} is indented ${spaces(here)}, but the keys ${above > 0 ? `on line ${above} ` : ''}start at ${spaces(there)}; keys of one mapping start in the same column`,
      offset: misaligned.pos[0],
    };
  }
  const first: YAMLError = doc.errors[0];
  if (first.code === 'MULTIPLE_DOCS')
    return { message: "a recipe is one YAML document; this '---' starts a second one", offset: first.pos[0] };
  const message = first.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
  if (first.code === 'MISSING_CHAR' || first.code === 'BAD_INDENT') {
    // The innermost quoted scalar or flow collection that runs to the error.
    let open: number | undefined;
    visit(doc, (_, node) => {
      const n = node as { range?: [number, number, number]; flow?: boolean; type?: string } | null;
      if (!n) return;
      const unclosed = n.flow || n.type === 'QUOTE_DOUBLE' || n.type === 'QUOTE_SINGLE';
      if (unclosed && n.range && n.range[0] < first.pos[0] && n.range[1] >= first.pos[0]) open = n.range[0];
    });
    if (open !== undefined) return { message: `the '${text[open]}' here is never closed (${message})`, offset: open };
  }
  return { message, offset: first.pos[0] };
}

const MAX_DEPTH = 64;

/**
 * A plain value that runs onto the next line is valid YAML, and in a recipe
 * almost always a list item or key indented one step too deep (`- a` then
 * `   - b` is the one item 'a - b'). Prose (`description:`) may run on.
 */
function runOnValue(doc: Document, text: string, lines: LineCounter): { message: string; offset: number } | undefined {
  let found: { message: string; offset: number } | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'description') return visit.SKIP;
      return undefined;
    },
    Scalar(_, node) {
      if (found || node.type !== 'PLAIN' || !node.range) return;
      const [start, end] = node.range;
      const from = lines.linePos(start).line;
      const to = lines.linePos(Math.max(start, end - 1)).line;
      if (to === from) return;
      const next = lines.lineStarts[from];
      const indent = /^ */.exec(text.slice(next))![0].length;
      const shown = text.slice(start, end).split('\n')[0].trim();
      found = {
        message: `line ${from + 1} continues the value '${shown}' of line ${from} (YAML reads them as one value, '${String(node.value)}'): it is indented deeper than the ${/^\s*- /.test(text.slice(lines.lineStarts[from - 1], next)) ? 'list item' : 'key'} above; indent it the same to make it an item or key of its own, or quote a value that spans lines`,
        offset: next + indent,
      };
    },
  });
  return found;
}

/**
 * Offset where flow brackets or block indentation first nest deeper than
 * MAX_DEPTH, from a light scan (quotes and comments skipped); undefined when
 * the text stays shallower.
 */
function tooDeep(text: string): number | undefined {
  let flow = 0;
  const indents: number[] = [];
  let i = 0;
  while (i < text.length) {
    // At a line start: block depth is the stack of open indents plus leading `- ` / `? ` markers.
    const nl = text.indexOf('\n', i);
    const lineEnd = nl < 0 ? text.length : nl;
    let j = i;
    while (j < lineEnd && text[j] === ' ') j++;
    if (flow === 0 && j < lineEnd && text[j] !== '#' && text[j] !== '\r') {
      const indent = j - i;
      while (indents.length && indents[indents.length - 1] >= indent) indents.pop();
      indents.push(indent);
      let depth = indents.length;
      while (/[-?:]/.test(text[j] ?? '') && (text[j + 1] === ' ' || text[j + 1] === '\t')) {
        depth++;
        j += 2;
        while (text[j] === ' ' || text[j] === '\t') j++;
      }
      if (depth > MAX_DEPTH) return j;
    }
    // The rest of the line: flow brackets, skipping quoted text and comments.
    for (; j < lineEnd; j++) {
      const c = text[j];
      const prev = j > i ? text[j - 1] : ' ';
      if (c === '#' && (prev === ' ' || prev === '\t')) break;
      if ((c === '"' || c === "'") && /[\s:[{,-]/.test(prev)) {
        const close = c === '"' ? /(?<!\\)"/g : /'/g;
        close.lastIndex = j + 1;
        const m = close.exec(text);
        if (!m) return undefined;
        j = m.index;
        continue;
      }
      if (c === '[' || c === '{') {
        if (++flow > MAX_DEPTH) return j;
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    const next = text.indexOf('\n', j);
    i = next < 0 ? text.length : next + 1;
  }
  return undefined;
}
