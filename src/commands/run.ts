// pocketdiff run ARTIFACT_DIR --prompt TEXT [--seed N] [--out IMAGE.png] [--guidance-scale S] [--size PX]
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import { predictedHere } from '../run/predicted-here.ts';
import { fmt, fmtInterval, round } from '../text/numbers.ts';
import { encodePng } from '../run/png.ts';
import { runArtifact } from '../run/run-artifact.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage =
  'pocketdiff run ARTIFACT_DIR --prompt TEXT [--seed N] [--out IMAGE.png] [--guidance-scale S] [--size PX] [--json]';

export const run: Command = {
  name: 'run',
  usage,
  summary: "run an artifact's pipeline on this machine (onnxruntime-node): prompt in, PNG out",
  async run(argv, ctx) {
    const args = parse(
      argv,
      {
        prompt: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        'guidance-scale': { type: 'string' },
        size: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage,
      ctx.log,
    );
    if (!args) return Exit.Usage;
    const bad = usageError(ctx.log, usage, Exit.Usage);
    const [dir, ...extra] = args.positionals;
    if (!dir || extra.length) return bad('expected one ARTIFACT_DIR (out/<recipe>/<device>)');
    const v = args.values;
    if (v.prompt === undefined) return bad('--prompt is required');
    const seed = v.seed === undefined ? 0 : Number(v.seed);
    if (!/^\d+$/.test(v.seed ?? '0') || !(seed < 2 ** 32))
      return bad(`--seed must be an integer in [0, 2^32), not '${v.seed}'`);
    const scale = v['guidance-scale'] === undefined ? undefined : Number(v['guidance-scale']);
    if (scale !== undefined && !Number.isFinite(scale))
      return bad(`--guidance-scale must be a number, not '${v['guidance-scale']}'`);
    const size = v.size === undefined ? undefined : Number(v.size);
    if (size !== undefined && !/^\d+$/.test(v.size!))
      return bad(`--size must be a whole number of pixels, not '${v.size}'`);
    const out = v.out ?? 'image.png';

    const result = await runArtifact(
      dir,
      {
        prompt: v.prompt,
        seed,
        guidanceScale: scale,
        size,
        onInfo: (line) => ctx.stderr(line),
        onStep: (i, n, t, s) =>
          ctx.stderr(`step ${String(i).padStart(String(n).length)}/${n}  t=${t}  ${s.toFixed(2)} s`),
      },
      ctx.log,
    );
    if (!result) return Exit.Error;
    try {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, encodePng(result.width, result.height, result.pixels));
    } catch (e) {
      ctx.log.error(Code.OutputNotWritable, `cannot write ${out}: ${(e as Error).message}`);
      return Exit.Error;
    }
    const s = result.seconds;
    // The cost model's word for this machine, beside what it measured.
    const p = predictedHere(result.artifact.dir, result.artifact.manifest, result.size, ctx.log);
    const predicted = p && {
      device: p.device,
      seconds: round(p.total_ms / 1000),
      ...(p.interval_80 ? { interval_80: [round(p.interval_80[0] / 1000), round(p.interval_80[1] / 1000)] } : {}),
      threads: 1,
    };
    if (v.json) {
      ctx.stdout(
        JSON.stringify(
          {
            image: out,
            width: result.width,
            height: result.height,
            seed,
            tokens: result.tokens,
            generated_vocabulary: result.generatedVocabulary,
            seconds: s,
            ...(predicted ? { predicted } : {}),
          },
          null,
          2,
        ),
      );
    } else {
      ctx.stdout(
        `wrote ${out} (${result.width}×${result.height}, seed ${seed}; text encoder ${s.text_encoder.toFixed(2)} s, unet ${s.unet.toFixed(2)} s, vae decoder ${s.vae_decoder.toFixed(2)} s, total ${s.total.toFixed(1)} s)`,
      );
      if (p) {
        const iv = p.interval_80 ? ` (80%: ${fmtInterval([p.interval_80[0] / 1000, p.interval_80[1] / 1000])} s)` : '';
        ctx.stdout(
          `predicted on ${p.device}: ${fmt(p.total_ms / 1000)} s${iv} with one onnxruntime thread (this run: ${fmt(s.total)} s with onnxruntime's default threads)`,
        );
      }
    }
    return Exit.Ok;
  },
};
