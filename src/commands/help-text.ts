// What `pocketdiff <command> --help` says beyond the usage line: each
// argument in full, with the vocabularies (devices, schemes, selectors) read
// from where they are defined, so the help cannot drift from the code.
import { deviceNames } from '../devices/index.ts';
import { SCHEME_INFO, SCHEMES } from '../precision.ts';

const SELECTORS = [
  'Blocks are diffusers module paths: down_blocks.1.attentions.0 (cross-attention), up_blocks.2.resnets.1 (ResNet),',
  'mid_block.attentions.0. `*` globs one path segment (up_blocks.*.attentions.2); an unknown block is an error with a',
  "did-you-mean. `pocketdiff inspect MODEL.onnx` lists a model's blocks.",
].join(' ');

const devices = () =>
  `Devices: ${deviceNames().join(', ')} (\`pocketdiff devices\` lists their sources and held-out errors).`;
const schemes = () => `Precision schemes: ${SCHEMES.map((s) => `${s} (${SCHEME_INFO[s].summary})`).join('; ')}.`;
const WIDTHS = 'A width is a kept fraction in (0, 1] or a whole number of channels (2 or more).';
const JSON_OUT = '--json prints the result as JSON on stdout and the diagnostics as one JSON object on stderr.';

/** Lines past `width` break at spaces, continuing under the description column (after a flag's two spaces). */
export function wrap(text: string, width = 100): string {
  return text
    .split('\n')
    .flatMap((line) => {
      const col = /^(\S.*?\s{2,})\S/.exec(line)?.[1].length ?? 0;
      const out: string[] = [];
      let rest = line;
      while (rest.length > width) {
        const cut = rest.lastIndexOf(' ', width);
        if (cut <= col) break;
        out.push(rest.slice(0, cut));
        rest = ' '.repeat(col) + rest.slice(cut + 1).trimStart();
      }
      return [...out, rest];
    })
    .join('\n');
}

export const DETAILS: Record<string, () => string> = {
  compile: () =>
    [
      'RECIPE.yaml   a recipe (schemas/recipe.schema.json; recipes/example.yaml shows every key).',
      '--out DIR     where artifacts go (default out/): one folder per target, DIR/<recipe>/<device>/, holding the three',
      '              models (.onnx with their weights in .onnx.data), manifest.json, report.md, report.html, pipeline.ts',
      '              and the tokenizer files. A recipe without targets gives one generic folder with dynamic shapes.',
      '--force       rebuild artifacts that are up to date (same recipe, input files, device profile and version).',
      '--graph-only  write graphs without weights (for structure and cost questions); without it a model whose weights',
      '              are missing is an error (PD7021). The embedded default is then built without weights, fast.',
      JSON_OUT,
      "Exit 3 when a target's predicted latency exceeds its budget_ms (the artifacts are written); Ctrl-C removes what was",
      'half-written and exits 130.',
      devices(),
    ].join('\n'),
  check: () =>
    [
      "Runs compile's steps without writing anything, on the models without their weights, and prices every target:",
      'exit 0, 2 on an error, 3 when a target is over its budget_ms.',
      JSON_OUT,
    ].join('\n'),
  whatif: () =>
    [
      '--device D                 price on this device profile. ' + devices(),
      "--remove SEL, --duplicate SEL   more UNet edits on top of the recipe's. " + SELECTORS,
      '--width [MODEL/]SEL=W      narrow a model as widths: does (MODEL: unet, vae_decoder, text_encoder; unet by default). ' +
        WIDTHS,
      '--steps N                  another step count.',
      '--quantize SCHEME          price every model at one scheme. ' + schemes(),
      "The table ends with the baseline: the recipe's source models unedited, same steps and guidance.",
      JSON_OUT,
    ].join('\n'),
  predict: () =>
    [
      '--device D           ' + devices(),
      '--precision P        ' + schemes(),
      "--input NAME=d0,d1   sizes for a model input's dynamic dims (default: one 512×512 image, 77 tokens).",
      JSON_OUT,
    ].join('\n'),
  diff: () =>
    [
      'OLD, NEW            artifact folders (out/<recipe>/<device>) or their manifest.json; only the manifests are read.',
      '--markdown          a table for a pull-request comment or a CI job summary.',
      "--fail-over-ms N    exit 3 (warning PD7020) when NEW's predicted latency is more than N ms over OLD's.",
      JSON_OUT,
    ].join('\n'),
  run: () =>
    [
      "ARTIFACT_DIR        a folder compile wrote; its files are checked against the manifest's sha256 first.",
      '--prompt TEXT       the caption (CLIP BPE; the demo vocabulary when the artifact has no tokenizer).',
      '--seed N            the noise seed (default 0): the same seed gives the same bytes.',
      "--guidance-scale S  override the recipe's scale (an input of the folded UNet).",
      '--size PX           image size for an artifact without a target resolution (static artifacts have theirs).',
      '--out IMAGE.png     where the image goes (default image.png).',
      "Prints the local-cpu profile's prediction beside the seconds it measured.",
      JSON_OUT,
    ].join('\n'),
  inspect: () =>
    [
      'MODEL.onnx          any ONNX model; its weights file need not be there.',
      '--input NAME=d0,d1  sizes for dynamic dims; the sizes it assumed otherwise are marked.',
      JSON_OUT,
    ].join('\n'),
  convert: () =>
    [
      '--external-data FILE  every weight into one file beside OUT (default OUT.data).',
      '--inline              every weight inside OUT.onnx (under 2 GiB only).',
      JSON_OUT,
    ].join('\n'),
  calibrate: () =>
    [
      '--device D   a profile fitted to its published rows, or local-cpu (measured on this machine, a few minutes).',
      '--dry-run     fit and report, write nothing.',
      '--reuse       refit a measured profile on the measurements it keeps.',
      devices(),
      JSON_OUT,
    ].join('\n'),
  devices: () => JSON_OUT,
  models: () =>
    [
      'build CONFIG.json --out DIR   a diffusers/transformers config (UNet, VAE, CLIP text or vision tower) to DIR/model.onnx.',
      "build-default                 the embedded SD v1.5 model into models/.built/sd15/ (what recipes' `default` is).",
      JSON_OUT,
    ].join('\n'),
  evolve: () =>
    [
      '--device D, --budget-ms B    the latency objective for one image on D (--unet-budget-ms B: one UNet step). ' +
        devices(),
      "--metric latent|clip         latent: distance of the final latents from the unedited UNet's; clip: CLIP score of the",
      '                             decoded images (--clip-text, --clip-vision: CLIP towers exported to ONNX).',
      '--prompts FILE, --samples N, --seed S   the prompt set (one caption a line) and the seeded samples scored.',
      '--queue redis://HOST:PORT[/DB]          score on `pocketdiff worker` processes through Redis.',
      '--out EVOLVED.yaml           the evolved recipe (extends the input); its .log.json and .html beside it.',
      JSON_OUT,
    ].join('\n'),
  distill: () =>
    [
      "plan RECIPE.yaml    writes DIR/plan.json (schemas/distill-plan.schema.json) and DIR/plan.md: per student step t, t′, t″, ᾱ/α/σ, the loss weight and the target's coefficients; the losses; every choice, with where it comes from. The recipe's schedule must be DDIM with trailing spacing, the only spacing whose grids nest (PD11001).",
      "--teacher-steps N   plan: the recipe's steps × 2, 4, 8, …: one stage per halving (default × 2).",
      '--out DIR           plan: where plan.json and plan.md go (default out/<recipe>/distill).',
      "--seed, --gamma …   plan: --seed N, --gamma G, --cfg-probability P, --guidance-range LO,HI, --stage-teacher previous-student|source, --vae-guidance W|LO,HI, --vae-count N override the paper's values and pocketdiff's recorded choices; the plan says which were given.",
      "vae-pairs ARTIFACT  the teacher pipeline's final latents (and with --images its decoder's images) as webdataset shards pairs-NNNNNN.tar (N.latent.npy, N.json, N.png) with index.json: the data SnapFusion distills its decoder on. --prompts FILE (one per line, used in turn), --count N, --out DIR; --guidance W or --guidance-range LO,HI (each pair's w drawn from it; default the artifact's scale), --seed N, --per-shard N (default 1000). Each pair's json has the seed and w that `pocketdiff run` reproduces it with.",
      "targets PLAN.json   the teacher's targets for the plan's stage (--stage N, default 1): --teacher ARTIFACT (compiled without fold_step), --data 'latents-{0000..0099}.tar' (webdataset shards of {key}.latent.npy, the VAE latent × 0.18215, and {key}.ids.npy, the token ids), --out DIR. One output shard per input shard, or --per-shard N samples each across the inputs in order (x, eps, xt_vani, xt_cfg per --modes, ids, json), and index.json; each sample's step, w and ε come from (the plan's seed, shard, index). A shard already there is kept, so a rerun finishes a killed one. --size PX sets the image size of a teacher with dynamic dims (default 512). --batch B runs B samples a teacher call (a teacher compiled with guidance.fold: none and no targets, whose batch is dynamic; guided calls go through fold-cfg per sample). --teacher-outputs also stores the teacher's two outputs per mode. --queue redis://HOST:PORT makes each shard a job for `pocketdiff worker`s, which read and write the same paths.",
      "check STUDENT       how well a trained student agrees with its teacher: --plan PLAN.json with --heldout 'targets-….tar' (held-out `distill targets` shards) gives the weighted x-space loss per student step, vanilla and CFG; --teacher ARTIFACT --prompts FILE [--seeds K] samples both from the same noise, prompt and guidance and gives the latent MSE, the image PSNR and the student decoder's PSNR on the teacher's latents. No FID or CLIP: --images DIR writes both sides' PNGs for your own tool.",
      JSON_OUT,
    ].join('\n'),
  worker: () =>
    [
      'REDIS_URL        redis://HOST:PORT[/DB], the queue evolve --queue fills.',
      '--concurrency N  jobs at once (default 1).',
      '--stalled-ms MS  a job whose worker stops renewing its lock this long goes to another.',
    ].join('\n'),
};
