// The timestep grids of step distillation (Salimans & Ho 2022; SnapFusion,
// Li et al. 2023, Sec. 4): a 2n-step teacher takes two DDIM steps where the
// n-step student takes one, so each student timestep must be a teacher one.
//
//   teacher  t₀  t₁  t₂  t₃  …  t₂ₙ₋₂  t₂ₙ₋₁  (final)
//   student  t₀      t₂      …  t₂ₙ₋₂         (final)
//   step i:  z_t ─teacher(t)→ z_t′ ─teacher(t′)→ z_t″ = student's one step from z_t
//
// With trailing spacing the student's grid is every other teacher timestep;
// leading (SD's DDIM default) and linspace grids do not nest, and a target
// made on them would teach the student a step it never takes.
//
// t″ is where the student's DDIM step lands: t − ⌊T/n⌋ (diffusers'
// DDIMScheduler), or the final ᾱ. The teacher's first sub-step lands on t′,
// the timestep it is evaluated at next. Both are read off the schedule module,
// so the plan and a compiled artifact agree to the bit.
import { computeSchedule, type Schedule, type ScheduleConfig } from '../schedule/index.ts';

export interface GridStep {
  /** Student step index (run order). */
  i: number;
  /** Teacher step indices of the two sub-steps: 2i and 2i + 1. */
  teacher_steps: [number, number];
  t: number;
  t1: number;
  /** null: past the last timestep, at final_alpha_cumprod. */
  t2: number | null;
  /** ᾱ at t, t′, t″ (float32 table values, as the schedule stores them). */
  alpha_bar: [number, number, number];
}

export interface Grid {
  teacher: Schedule;
  student: Schedule;
  steps: GridStep[];
}

export type GridResult = { grid: Grid } | { error: 'schedule'; message: string } | { error: 'nest'; message: string };

/**
 * The student's n-step DDIM grid inside the teacher's 2n-step one, or why not:
 * a spacing whose grids do not nest (naming the timesteps), or a step count
 * the schedule refuses.
 */
export function distillGrid(cfg: Omit<ScheduleConfig, 'steps' | 'scheduler'>, studentSteps: number): GridResult {
  let teacher: Schedule;
  let student: Schedule;
  try {
    teacher = computeSchedule({ ...cfg, scheduler: 'ddim', steps: 2 * studentSteps });
    student = computeSchedule({ ...cfg, scheduler: 'ddim', steps: studentSteps });
  } catch (e) {
    return { error: 'schedule', message: (e as Error).message.replace(/^schedule: /, '') };
  }
  const even = teacher.timesteps.filter((_, k) => k % 2 === 0);
  const bad = student.timesteps.findIndex((t, i) => t !== even[i]);
  if (bad >= 0) {
    const list = (ts: number[]) => ts.slice(0, 4).join(', ') + (ts.length > 4 ? ', …' : '');
    return {
      error: 'nest',
      message:
        `${cfg.spacing} spacing does not nest the ${studentSteps}-step student in the ${2 * studentSteps}-step teacher: ` +
        `student step ${bad} is at timestep ${student.timesteps[bad]}, the teacher's step ${2 * bad} at ${even[bad]} ` +
        `(student ${list(student.timesteps)}; teacher's even steps ${list(even)}); trailing spacing nests every 2n → n`,
    };
  }
  const ratio = Math.floor(cfg.train_timesteps / studentSteps);
  const steps = student.timesteps.map((t, i): GridStep => {
    const t2 = t - ratio >= 0 ? t - ratio : null;
    return {
      i,
      teacher_steps: [2 * i, 2 * i + 1],
      t,
      t1: teacher.timesteps[2 * i + 1]!,
      t2,
      alpha_bar: [student.alphas_cumprod[i]!, teacher.alphas_cumprod[2 * i + 1]!, student.prev_alphas_cumprod[i]!],
    };
  });
  return { grid: { teacher, student, steps } };
}

/**
 * Where diffusers' own 2n-step DDIM would land a teacher sub-step (t − ⌊T/2n⌋)
 * elsewhere than the plan does (t′, or the student's t″): when 2n does not
 * divide T. The plan's choice keeps the target on the student's grid.
 */
export function offGridTeacherSteps(
  g: Grid,
  trainTimesteps: number,
): { teacher_step: number; from: number; diffusers: number; plan: number | null }[] {
  const ratio = Math.floor(trainTimesteps / g.teacher.steps);
  const out: { teacher_step: number; from: number; diffusers: number; plan: number | null }[] = [];
  for (const s of g.steps) {
    for (const [k, from, plan] of [
      [s.teacher_steps[0], s.t, s.t1],
      [s.teacher_steps[1], s.t1, s.t2],
    ] as const) {
      const diffusers = from - ratio;
      const same = diffusers < 0 ? plan === null : diffusers === plan;
      if (!same) out.push({ teacher_step: k, from, diffusers: Math.max(diffusers, -1), plan });
    }
  }
  return out;
}
