// plan.md: the plan for a person: the stages and their step tables, the
// losses, every choice with where it comes from, and a reference PyTorch loss
// that reads plan.json, short enough to copy into a training script.
import type { DistillPlan, PlanStage } from './plan-schema.ts';

const f = (x: number, digits = 6) =>
  Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(digits - 1) : x.toPrecision(digits);
const at = (t: number | null) => (t === null ? 'final' : String(t));

export function renderPlanMd(p: DistillPlan): string {
  const out: string[] = [];
  const first = p.stages[0]!;
  out.push(`# Distillation plan: ${p.recipe.name}`, '');
  out.push(
    `Step distillation of the recipe's UNet (${p.student.remove.length} blocks removed, ${p.student.duplicate.length} duplicated) ` +
      `from a ${p.teacher.steps}-step teacher to ${p.student.steps} steps, ${p.student.prediction_type}, DDIM with ${p.schedule.spacing} spacing ` +
      `(recipe ${p.recipe.file}, sha256 ${p.recipe.sha256.slice(0, 12)}…; pocketdiff ${p.tool_version}). Teacher: \`${p.teacher.model}\` ` +
      `(${Object.entries(p.teacher.files)
        .map(([k, v]) => `${k} ${v.slice(0, 12)}…`)
        .join(', ')}). Seed ${p.seed}.`,
    '',
  );
  for (const s of p.stages) out.push(...stageMd(s, p));
  out.push('## Losses', '');
  out.push(
    `- Target: ${p.loss.target}.`,
    `- Weight: ${p.loss.weight}.`,
    `- Distillation: ${p.loss.distill}.`,
    `- Original: ${p.loss.original}.`,
    `- Total: ${p.loss.total}, γ = ${p.loss.gamma}.`,
  );
  out.push(
    `- Guidance: ${p.guidance.formula}; w ~ U[${p.guidance.range.join(', ')}], CFG-aware with probability ${p.guidance.cfg_probability}. ` +
      `Teacher UNet calls per sample: ${p.guidance.teacher_calls.vanilla} plain, ${p.guidance.teacher_calls.cfg} CFG-aware.`,
    '',
  );
  out.push('## Conversions', '', `Latents are the VAE's × ${p.latent_scale}.`, '');
  for (const [k, v] of Object.entries(p.conversions)) out.push(`- ${k}: ${v}`);
  out.push('', '## Choices', '', '| choice | value | from | why |', '|---|---|---|---|');
  for (const c of p.choices) out.push(`| ${c.name} | ${JSON.stringify(c.value)} | ${c.source} | ${c.why} |`);
  out.push(
    '',
    '## Reference loss (PyTorch)',
    '',
    'Reads plan.json; `student` and `teacher` map (z_t, t, text embedding) to their prediction type. Adapt batching and the text encoder to your training script.',
    '',
  );
  out.push('```python', ...pytorchReference(first, p), '```', '');
  return out.join('\n');
}

function stageMd(s: PlanStage, p: DistillPlan): string[] {
  const out = [`## Stage ${s.stage}: ${s.teacher.steps} → ${s.student.steps} steps`, ''];
  out.push(
    `Teacher: ${s.teacher.network === 'source' ? `the source UNet (\`${p.teacher.model}\`)` : "the previous stage's student"}; student: the recipe's UNet.`,
    '',
  );
  out.push(
    '| i | teacher steps | t | t′ | t″ | ᾱ | ᾱ′ | ᾱ″ | weight | x̂ = a·z_t″ + b·z_t: a | b |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of s.steps) {
    out.push(
      `| ${r.i} | ${r.teacher_steps.join(', ')} | ${r.t} | ${r.t1} | ${at(r.t2)} | ${r.alpha_bar.map((x) => f(x)).join(' | ')} | ${f(r.snr_weight)} | ${f(r.target.z_t2)} | ${f(r.target.z_t)} |`,
    );
  }
  if (s.off_grid.length) {
    out.push(
      '',
      `Where diffusers' own ${s.teacher.steps}-step DDIM would land a teacher sub-step elsewhere: ${s.off_grid.map((o) => `step ${o.teacher_step} from ${o.from}: ${o.diffusers < 0 ? 'final' : o.diffusers}, plan ${at(o.plan)}`).join('; ')}.`,
    );
  }
  out.push('');
  return out;
}

function pytorchReference(s: PlanStage, p: DistillPlan): string[] {
  const pred = p.student.prediction_type;
  return [
    'import json, random, torch',
    '',
    `plan = json.load(open("plan.json"))`,
    `stage = plan["stages"][${s.stage - 1}]  # stage ${s.stage}: ${s.teacher.steps} → ${s.student.steps}`,
    'rows = stage["steps"]',
    'lo, hi = plan["guidance"]["range"]',
    '',
    'def to_x(out, z, a, s, kind):  # model output -> (x0, eps), float64',
    '    if kind == "epsilon":',
    '        return (z - s * out) / a, out',
    '    return a * z - s * out, a * out + s * z  # v_prediction',
    '',
    'def ddim(z, out, a, s, a_next, s_next, kind):',
    '    x0, eps = to_x(out, z, a, s, kind)',
    '    return a_next * x0 + s_next * eps',
    '',
    'def guided(model, z, t, cond, uncond, w):',
    '    if w is None:',
    '        return model(z, t, cond)',
    '    u, c = model(z, t, uncond), model(z, t, cond)',
    '    return u + w * (c - u)',
    '',
    'def loss(student, teacher, x, cond, uncond, gamma=plan["loss"]["gamma"], p=plan["guidance"]["cfg_probability"]):',
    '    """x: clean latents (VAE latent × latent_scale), [B, 4, h, w]; cond/uncond: text embeddings."""',
    '    r = random.choice(rows)',
    '    (a, a1, a2), (s, s1, s2) = r["alpha"], r["sigma"]',
    '    eps = torch.randn_like(x)',
    '    z = (a * x.double() + s * eps.double())',
    '    w = random.uniform(lo, hi) if random.random() < p else None  # CFG-aware with probability p',
    `    kind = "${p.teacher.prediction_type}"`,
    '    with torch.no_grad():',
    '        t, t1 = torch.full((x.shape[0],), r["t"]), torch.full((x.shape[0],), r["t1"])',
    '        z1 = ddim(z, guided(teacher, z.float(), t, cond, uncond, w).double(), a, s, a1, s1, kind)',
    '        z2 = ddim(z1, guided(teacher, z1.float(), t1, cond, uncond, w).double(), a1, s1, a2, s2, kind)',
    '        x_target = (r["target"]["z_t2"] * z2 + r["target"]["z_t"] * z).float()',
    '    out_c = student(z.float(), t, cond)',
    '    out = out_c if w is None else (lambda u: u + w * (out_c - u))(student(z.float(), t, uncond))',
    `    x_student, _ = to_x(out, z.float(), a, s, "${pred}")`,
    `    x_cond, _ = to_x(out_c, z.float(), a, s, "${pred}")`,
    '    weight = r["snr_weight"]',
    '    l_dstl = weight * torch.mean((x_student - x_target) ** 2)',
    '    l_ori = weight * torch.mean((x_cond - x) ** 2)  # the conditional output against the clean latent',
    '    return l_dstl + gamma * l_ori',
  ];
}
