// Reading the zod schema's structure: which keys a mapping at a given recipe
// path accepts, for did-you-mean on unknown keys.
import type { z } from 'zod';

/** Where a value sits in a document: keys and list indices from the root. */
export type Path = readonly (string | number)[];

type Def = {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
};

function def(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips wrappers (default, optional, refinements) down to the structural type. */
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = def(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let s: z.ZodType | undefined = unwrap(schema);
  for (const key of path) {
    if (!s) return [];
    const d = def(s);
    if (d.type === 'object' && typeof key === 'string') s = d.shape?.[key];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'union') s = d.options?.map(unwrap).find((o) => def(o).type === 'object');
    else return [];
    s = s && unwrap(s);
    if (s && def(s).type === 'union')
      s =
        def(s)
          .options?.map(unwrap)
          .find((o) => def(o).type === 'object') ?? s;
  }
  if (s && def(s).type === 'union')
    s = def(s)
      .options?.map(unwrap)
      .find((o) => def(o).type === 'object');
  return s && def(s).type === 'object' ? Object.keys(def(s).shape ?? {}) : [];
}
