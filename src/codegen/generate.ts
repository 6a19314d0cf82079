// generate(), the generated pipeline.ts's whole loop, written for one
// artifact's interface: which UNet inputs it feeds, whether guidance and the
// DDIM step run in the graph, and the dtypes of each feed. The host code it
// calls (tokenizer, noise, scheduler step) is pocketdiff's own, copied in, so
// it does what `pocketdiff run` does, in the same order.
import type { SourceFile } from 'ts-morph';
import type { Manifest, ModelEntry } from '../artifact/manifest.ts';
import { dimExpr, prop } from './literal.ts';
import { banner } from './portable.ts';

type ArtifactManifest = Omit<Manifest, 'files'>;
type Sig = ModelEntry['inputs'][number];

/** What generate() feeds for a value held as float32 numbers (arrays) or one number. */
function convert(s: Sig | undefined, expr: string, scalar: boolean): string {
  const dtype = s?.dtype ?? 'float32';
  if (scalar) {
    if (dtype === 'int64') return `BigInt64Array.of(BigInt(Math.round(${expr})))`;
    if (dtype === 'int32') return `Int32Array.of(Math.round(${expr}))`;
    if (dtype === 'float16') return `Uint16Array.of(toHalf(${expr}))`;
    return `Float32Array.of(${expr})`;
  }
  return dtype === 'float16' ? `Uint16Array.from(${expr}, toHalf)` : expr;
}

/** Output data as float32. */
function floats(s: Sig | undefined, expr: string): string {
  return s?.dtype === 'float16' ? `Float32Array.from(${expr}, fromHalf)` : expr;
}

export function addGenerate(f: SourceFile, m: ArtifactManifest, dynamic: boolean): void {
  const te = m.models.text_encoder;
  const unet = m.models.unet;
  const vae = m.models.vae_decoder;
  const why = !te || !unet || !vae ? 'the artifact lacks a model' : undrivable(m);
  if (why) {
    f.addStatements(`// No generate(): ${why}. The typed run functions above still work.`);
    return;
  }
  const input = (e: ModelEntry, n: string) => e.inputs.find((s) => s.name === n);
  const out = (e: ModelEntry, n: string) => e.outputs.find((s) => s.name === n);
  const textOut = out(te!, 'last_hidden_state') ?? te!.outputs[0];
  const ids = te!.inputs[0];
  const d = dynamic ? ', dims' : '';
  const seq = dimExpr(ids.shape[1]);
  const latentShape = unet!.inputs
    .find((s) => s.name === 'sample')!
    .shape.slice(1)
    .map(dimExpr)
    .join(' * ');
  const baked = m.guidance.fold === 'batch' && m.guidance.uncond === 'baked';
  const g = m.guidance.fold;
  const idsConv = ids.dtype === 'int32' ? 'Int32Array.from(t)' : 'BigInt64Array.from(t, (x) => BigInt(x))';
  const encode = (expr: string) =>
    floats(
      textOut,
      `(await runTextEncoder(o.ort, textEncoder, { ${prop(ids.name)}: ids(${expr}) }${d})).${prop(textOut.name)}.data`,
    );
  const t = input(unet!, 'timestep');
  const unetCall = (fields: string[]) =>
    `await runUnet(o.ort, unet, {\n${fields.map((x) => `${x.replace(/^(\w+): \1$/, '$1')},`).join('\n')}\n}${d})`;
  const step: string[] =
    g === 'batch'
      ? [
          `const r = ${unetCall([
            `sample: ${convert(input(unet!, 'sample'), 'sample', false)}`,
            m.schedule.folded_step
              ? `step_index: ${convert(input(unet!, 'step_index'), 'i', true)}`
              : `timestep: ${convert(t, 'SCHEDULE.timesteps[i]', true)}`,
            `encoder_hidden_states: ${convert(input(unet!, 'encoder_hidden_states'), 'cond', false)}`,
            ...(baked
              ? []
              : [
                  `uncond_encoder_hidden_states: ${convert(input(unet!, 'uncond_encoder_hidden_states'), 'uncond', false)}`,
                ]),
            `guidance_scale: ${convert(input(unet!, 'guidance_scale'), 'scale', true)}`,
          ])};`,
          m.schedule.folded_step
            ? `latents = ${floats(out(unet!, 'prev_sample'), 'r.prev_sample.data')};`
            : `latents = schedulerStep(SCHEDULE, i, ${floats(out(unet!, 'noise_pred'), 'r.noise_pred.data')}, latents);`,
        ]
      : [
          `const call = async (e: Float32Array) => ${floats(out(unet!, 'out_sample'), `(${unetCall([`sample: ${convert(input(unet!, 'sample'), 'sample', false)}`, `timestep: ${convert(t, 'SCHEDULE.timesteps[i]', true)}`, `encoder_hidden_states: ${convert(input(unet!, 'encoder_hidden_states'), 'e', false)}`])}).out_sample.data`)};`,
          'const noise = guide(await call(uncond), await call(cond), scale);',
          'latents = schedulerStep(SCHEDULE, i, noise, latents);',
        ];
  const vaeIn = vae!.inputs[0];
  const vaeOut = vae!.outputs[0];
  banner(f, 'the pipeline');
  f.addInterface({
    name: 'GenerateOptions',
    isExported: true,
    properties: [
      { name: 'ort', type: 'Ort' },
      {
        name: 'open',
        type: '(file: string) => Promise<OrtSession>',
        docs: ["Opens one of the artifact's models by file name (MODELS.*.file)."],
      },
      {
        name: 'tokenizer',
        type: '{ vocab: Record<string, number>; merges: string; padToken?: string }',
        docs: ["The artifact's vocab.json (parsed) and merges.txt (text)."],
      },
      { name: 'prompt', type: 'string' },
      { name: 'seed', type: 'number', hasQuestionToken: true, docs: ['An integer in [0, 2^32); default 0.'] },
      {
        name: 'guidanceScale',
        type: 'number',
        hasQuestionToken: true,
        docs: [`Default GUIDANCE.scale (${m.guidance.scale}).`],
      },
      ...(dynamic
        ? [{ name: 'size', type: 'number', hasQuestionToken: true, docs: ['Image size in pixels; default 512.'] }]
        : []),
      { name: 'onStep', type: '(step: number, steps: number, timestep: number) => void', hasQuestionToken: true },
    ],
  });
  f.addInterface({
    name: 'GeneratedImage',
    isExported: true,
    extends: ['RgbImage'],
    properties: [
      { name: 'latents', type: 'Float32Array' },
      { name: 'tokens', type: 'number[]' },
    ],
  });
  f.addFunction({
    name: 'generate',
    isExported: true,
    isAsync: true,
    docs: [
      `Prompt → image: text encoder${baked ? '' : ' (prompt and "")'}, ${m.schedule.steps} ${m.schedule.scheduler.toUpperCase()} steps (${
        g === 'batch'
          ? `one UNet call each, guidance in the graph${m.schedule.folded_step ? ', step in the graph' : ''}`
          : 'two UNet calls each, guidance here'
      }), VAE decoder.`,
    ],
    parameters: [{ name: 'o', type: 'GenerateOptions' }],
    returnType: 'Promise<GeneratedImage>',
    statements: [
      ...(dynamic ? ['const dims = dimsFor(o.size ?? 512);'] : []),
      `const tokenizer = new ClipTokenizer(o.tokenizer.vocab, o.tokenizer.merges, { maxLength: ${seq}, padToken: o.tokenizer.padToken });`,
      'const tokens = tokenizer.encode(o.prompt);',
      `const ids = (t: number[]) => ${idsConv};`,
      `const textEncoder = await o.open(MODELS.text_encoder.file);`,
      'let cond: Float32Array;',
      ...(baked ? [] : ['let uncond: Float32Array;']),
      'try {',
      `cond = ${encode('tokens')};`,
      ...(baked ? [] : [`uncond = ${encode("tokenizer.encode('')")};`]),
      '} finally {',
      'await textEncoder.release();',
      '}',
      `let latents = initialLatents(o.seed ?? 0, ${latentShape}, SCHEDULE.init_noise_sigma);`,
      'const scale = o.guidanceScale ?? GUIDANCE.scale;',
      'const unet = await o.open(MODELS.unet.file);',
      'try {',
      'for (let i = 0; i < SCHEDULE.timesteps.length; i++) {',
      'const sample = scaleModelInput(SCHEDULE, i, latents);',
      ...step,
      'o.onStep?.(i + 1, SCHEDULE.timesteps.length, SCHEDULE.timesteps[i]);',
      '}',
      '} finally {',
      'await unet.release();',
      '}',
      'const vae = await o.open(MODELS.vae_decoder.file);',
      'try {',
      `const decoded = (await runVaeDecoder(o.ort, vae, { ${prop(vaeIn.name)}: ${convert(vaeIn, 'vaeInput(latents)', false)} }${d})).${prop(vaeOut.name)};`,
      `return { ...toRgb(${floats(vaeOut, 'decoded.data')}, decoded.dims), latents, tokens };`,
      '} finally {',
      'await vae.release();',
      '}',
    ],
  });
}

/** Why generate() cannot drive this artifact's UNet, or undefined (the interfaces `pocketdiff run` drives). */
function undrivable(m: ArtifactManifest): string | undefined {
  const names = m.models.unet!.inputs.map((s) => s.name);
  const outs = m.models.unet!.outputs.map((s) => s.name);
  const want =
    m.guidance.fold === 'none'
      ? { inputs: ['sample', 'timestep', 'encoder_hidden_states'], output: 'out_sample' }
      : {
          inputs: [
            'sample',
            m.schedule.folded_step ? 'step_index' : 'timestep',
            'encoder_hidden_states',
            ...(m.guidance.uncond === 'baked' ? [] : ['uncond_encoder_hidden_states']),
            'guidance_scale',
          ],
          output: m.schedule.folded_step ? 'prev_sample' : 'noise_pred',
        };
  if (
    names.length !== want.inputs.length ||
    !want.inputs.every((n) => names.includes(n)) ||
    !outs.includes(want.output)
  ) {
    return `the UNet's interface (${names.join(', ')} → ${outs.join(', ')}) is not the one guidance.fold '${m.guidance.fold}' makes`;
  }
  return undefined;
}
