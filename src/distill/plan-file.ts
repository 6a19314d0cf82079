// A plan.json read back for `distill targets` and `distill check`: parsed
// and validated against the published schema, errors coded PD11006.
import fs from 'node:fs';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { validateAgainst } from '../schema/validate.ts';
import { DISTILL_PLAN_SCHEMA, type DistillPlan } from './plan-schema.ts';

export function readPlan(file: string, log: DiagnosticLog): DistillPlan | undefined {
  let plan: unknown;
  try {
    plan = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    log.error(
      fs.existsSync(file) ? Code.DistillPlanInvalid : Code.FileNotFound,
      `cannot read the plan: ${(e as Error).message}`,
      { file },
    );
    return undefined;
  }
  const before = log.errors().length;
  if (!validateAgainst(DISTILL_PLAN_SCHEMA, plan, log, file)) {
    for (const d of log.errors().slice(before)) d.code = Code.DistillPlanInvalid;
    return undefined;
  }
  return plan as DistillPlan;
}
