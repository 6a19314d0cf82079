// A YAML source with positions: parsing keeps the document so any value path
// (`['schedule', 'steps']`) maps back to file:line:col for diagnostics.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { Location } from '../diagnostics.ts';

export type Path = readonly (string | number)[];

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  static parse(file: string, text: string): { source: YamlSource; error?: { message: string; at: Location } } {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const source = new YamlSource(file, doc, lines);
    const first = doc.errors[0];
    if (first) {
      const pos = lines.linePos(first.pos[0]);
      const message = first.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
      return { source, error: { message, at: { file, line: pos.line, col: pos.col } } };
    }
    return { source };
  }

  toJS(): unknown {
    return this.doc.toJS();
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
