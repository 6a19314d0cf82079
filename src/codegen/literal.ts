// TypeScript text for values and names, as the generated pipeline.ts writes them.

export type Dim = number | string;

const ident = (name: string) => /^[A-Za-z_$][\w$]*$/.test(name);

/** A property name: bare when it is an identifier, quoted otherwise. */
export const prop = (name: string) => (ident(name) ? name : quote(name));

/** obj.name, or obj['name'] for names that are not identifiers. */
export const get = (obj: string, name: string) => (ident(name) ? `${obj}.${name}` : `${obj}[${quote(name)}]`);

export const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A dim of a shape: its size, or `dims.<name>` for a named one. */
export function dimExpr(d: Dim): string {
  return typeof d === 'number' ? String(d) : get('dims', d);
}

/** A value as a TypeScript literal: on one line when it fits in `width`, else one entry a line (numbers packed). */
export function literal(v: unknown, indent = '', width = 100): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v !== 'object' || v === null) return String(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    const items = v.map((x) => literal(x, inner, width));
    const flat = `[${items.join(', ')}]`;
    if (indent.length + flat.length <= width) return flat;
    if (v.every((x) => typeof x === 'number')) {
      const lines: string[] = [];
      for (const it of items) {
        const last = lines[lines.length - 1];
        if (last !== undefined && inner.length + last.length + it.length + 2 <= width)
          lines[lines.length - 1] = `${last} ${it},`;
        else lines.push(`${it},`);
      }
      return `[\n${lines.map((l) => inner + l).join('\n')}\n${indent}]`;
    }
    return `[\n${items.map((x) => `${inner}${x},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  const flat = `{ ${entries.map(([k, x]) => `${prop(k)}: ${literal(x, inner, width)}`).join(', ')} }`;
  if (indent.length + flat.length <= width && !flat.includes('\n')) return flat;
  return `{\n${entries.map(([k, x]) => `${inner}${prop(k)}: ${literal(x, inner, width)},`).join('\n')}\n${indent}}`;
}
