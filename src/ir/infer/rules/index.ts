// The rule table: every operator inference knows, one row each, grouped by family.
import type { ShapeRule } from '../context.ts';
import { convRules } from './conv.ts';
import { elementwiseRules } from './elementwise.ts';
import { matmulRules } from './matmul.ts';
import { miscRules } from './misc.ts';
import { normRules } from './norm.ts';
import { reduceRules } from './reduce.ts';
import { reshapeRules } from './reshape.ts';
import { slicingRules } from './slicing.ts';

export const RULES: readonly ShapeRule[] = [
  ...elementwiseRules,
  ...convRules,
  ...matmulRules,
  ...reshapeRules,
  ...slicingRules,
  ...reduceRules,
  ...normRules,
  ...miscRules,
];

/** `domain:op` key; ai.onnx is ''. */
export function ruleKey(domain: string, op: string): string {
  return `${domain === 'ai.onnx' ? '' : domain}:${op}`;
}

export const RULE_TABLE: ReadonlyMap<string, ShapeRule> = (() => {
  const table = new Map<string, ShapeRule>();
  for (const r of RULES) {
    const key = ruleKey(r.domain ?? '', r.op);
    // Two rows for one op would make the table's order matter; that is a bug in this file's inputs.
    if (table.has(key)) throw new Error(`duplicate shape rule for ${key}`);
    table.set(key, r);
  }
  return table;
})();
