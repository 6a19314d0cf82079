// prune-channels: the recipe's `widths:`. Channels are removed per dependency
// group (prune/groups.ts): every op that produces a channel loses its row,
// every op that reads it loses its column, per-channel parameters lose their
// entry, and reshapes that split channels into GroupNorm groups or attention
// heads keep their group count with the same number of channels per group.
//
//   widths: {"*": 0.5}                       every group at half width (SnapFusion's decoder)
//   widths: {"up_blocks.1.resnets.0": 640}   a ResNet's inner width, as a count
//   widths: {"**.attn1": 0.5}                attention head_dim (heads stay) of every self-attention
//
// A group is addressed by a selector when all the ops producing its channels
// lie in what the selector names (blocks, or module paths inside them); the
// most specific selector wins. Groups that reach the model's interface, or
// pass through an op pruning has no rule for, keep every channel.
import { findBlocks } from '../blocks/find.ts';
import { Code } from '../codes.ts';
import { DiagnosticLog } from '../diagnostics.ts';
import type { Graph, Node, Value } from '../ir/graph.ts';
import type { ConstTensor } from '../ir/infer/index.ts';
import { bindAndInfer, restoreIo, snapshotIo, targetDims } from '../ir/bind.ts';
import type { Pass } from './pass.ts';
import { widthError, type WidthSpec } from './prune/width-value.ts';

export type { WidthSpec } from './prune/width-value.ts';
import { resizedValues, rewriteShapeConstants, sliceWeights } from './prune/apply.ts';
import { findChannelGroups, type ChannelGroups } from './prune/groups.ts';
import { channelImportance, type ImportanceKind } from './prune/importance.ts';
import { chooseKeep, classCuts, unevenChunks, widthStep } from './prune/plan.ts';
import type { SpaceId } from './prune/spaces.ts';
import { narrowest, resolveSelector } from '../blocks/selector.ts';

export interface PruneOptions {
  /** How channels are ranked within a group (default 'l1'). */
  importance?: ImportanceKind;
  /** Groups narrower than this are not pruned by ratios (default 8: SD's 4-channel latents stay). */
  minChannels?: number;
  /** Sizes for symbolic input dims while the pass re-checks shapes (default: one 512×512 image). */
  dims?: Record<string, number>;
  /**
   * Only the resulting shapes matter (`check`, which reads no weights): channels
   * are not ranked, and the absence of weights to rank them by is not worth a warning.
   */
  structureOnly?: boolean;
}

export type { ImportanceKind } from './prune/importance.ts';

export function pruneChannels(specs: WidthSpec[], opts: PruneOptions = {}): Pass {
  return {
    name: 'prune-channels',
    run(g, log) {
      if (!checkSpecs(specs, log)) return undefined;
      const io = snapshotIo(g);
      try {
        return prune(g, specs, opts, log);
      } finally {
        restoreIo(g, io);
      }
    },
  };
}

/** What the analysis found, for tests and `--explain`: one entry per dependency group. */
export interface GroupReport {
  channels: number;
  sources: string[];
  frozen?: string;
  /** Weight slices: `name:axis` with role. */
  weights: { name: string; axis: number; role: string }[];
  chunks: number[];
}

export function describeChannelGroups(
  g: Graph,
  log: DiagnosticLog,
  dims?: Record<string, number>,
): GroupReport[] | undefined {
  const io = snapshotIo(g);
  try {
    const constants = inferConstants(g, dims, log);
    if (!constants) return undefined;
    const groups = findChannelGroups(g, constants);
    const { spaces } = groups;
    const out = new Map<SpaceId, GroupReport>();
    for (const [root, members] of spaces.classes()) {
      out.set(root, {
        channels: spaces.size(root),
        sources: [...new Set(members.map((m) => spaces.source(m)?.name).filter((n): n is string => !!n))],
        frozen: spaces.frozen(root),
        weights: [],
        chunks: [],
      });
    }
    for (const byAxis of groups.weights.values()) {
      for (const wa of byAxis.values()) {
        for (const s of spaces.resolve(wa.segs)) {
          const r = out.get(spaces.find(s));
          if (r && !r.weights.some((x) => x.name === wa.value.name && x.axis === wa.axis))
            r.weights.push({ name: wa.value.name, axis: wa.axis, role: [...wa.roles].join('+') });
        }
      }
    }
    for (const ch of groups.chunkings)
      for (const s of spaces.resolve(ch.segs)) out.get(spaces.find(s))?.chunks.push(ch.chunks);
    return [...out.values()];
  } finally {
    restoreIo(g, io);
  }
}

function checkSpecs(specs: WidthSpec[], log: DiagnosticLog): boolean {
  let ok = true;
  for (const s of specs) {
    const v = s.ratio ?? s.count;
    const why =
      (s.ratio === undefined) === (s.count === undefined)
        ? `width for '${s.selector}' needs exactly one of a ratio or a channel count`
        : widthError(v!, s.selector);
    if (why) {
      log.error(Code.WidthRange, why, s.at);
      ok = false;
    }
  }
  return ok;
}

/** Binds symbolic input dims (opts, else one 512×512 image) and infers; returns what shape arithmetic folds to. */
function inferConstants(
  g: Graph,
  dims: Record<string, number> | undefined,
  log: DiagnosticLog,
): Map<Value, ConstTensor> | undefined {
  const tmp = new DiagnosticLog();
  const inferred = bindAndInfer(g, dims ?? targetDims(512), tmp);
  for (const d of tmp.errors())
    log.error(d.code, `prune-channels needs every shape: ${d.message}`, d.location, d.notes);
  return inferred?.constants;
}

function prune(g: Graph, specs: WidthSpec[], opts: PruneOptions, log: DiagnosticLog) {
  const errorsBefore = log.errors().length;
  const failed = () => log.errors().length > errorsBefore;
  const constants = inferConstants(g, opts.dims, log);
  if (!constants) return undefined;
  const groups = findChannelGroups(g, constants);
  const { spaces } = groups;
  const blockMap = findBlocks(g);
  const matchers = specs.map((s) => resolveSelector(g, s.selector, log, s.at, blockMap));
  if (matchers.some((m) => !m)) return undefined;

  const cuts = classCuts(groups);
  const classes = spaces.classes();
  const minChannels = opts.minChannels ?? 8;
  const width = new Map<SpaceId, { w: number; spec: WidthSpec }>();
  const specHits = new Map<WidthSpec, { prunable: number; frozen: string[]; refused?: boolean }>(
    specs.map((s) => [s, { prunable: 0, frozen: [] }]),
  );
  let frozenCount = 0;
  for (const [root, members] of classes) {
    const sources = members.map((m) => spaces.source(m));
    if (sources.some((s) => !s)) continue;
    const pick = narrowest(matchers, sources as Node[]);
    const chosen = pick < 0 ? undefined : { spec: specs[pick] };
    const frozen = spaces.frozen(root);
    if (frozen) frozenCount++;
    if (!chosen) continue;
    const hit = specHits.get(chosen.spec)!;
    if (frozen) {
      hit.frozen.push(`${spaces.size(root)} channels of ${sources[0]!.name}: ${frozen}`);
      continue;
    }
    const C = spaces.size(root);
    const step = widthStep(C, cuts.get(root));
    const what = chunkWords(groups, root);
    const spec = chosen.spec;
    let w: number;
    if (spec.count !== undefined) {
      if (spec.count > C) {
        log.error(
          Code.WidthTooLarge,
          `width ${spec.count} for '${spec.selector}' exceeds the ${C} channels of the group produced by '${sources[0]!.name}'`,
          spec.at,
        );
        hit.refused = true;
        continue;
      }
      if (spec.count % step) {
        log.error(
          Code.WidthBreaksGroups,
          `width ${spec.count} for '${spec.selector}' breaks ${what} of the ${C}-channel group produced by '${sources[0]!.name}': widths must be multiples of ${step}`,
          spec.at,
        );
        hit.refused = true;
        continue;
      }
      w = spec.count;
    } else {
      if (C < minChannels) continue;
      w = Math.max(1, Math.round(spec.ratio! * (C / step))) * step;
    }
    hit.prunable++;
    if (w < C) width.set(root, { w, spec });
  }
  for (const [spec, hit] of specHits) {
    if (hit.prunable || hit.refused || spec.selector === '*' || spec.selector === '**') continue;
    log.warn(
      Code.WidthNothingPrunable,
      `'${spec.selector}' selects no channel group that can be pruned`,
      spec.at,
      hit.frozen.slice(0, 5),
    );
  }
  if (failed()) return undefined;

  const scores = opts.structureOnly
    ? new Map()
    : channelImportance(groups, new Set(width.keys()), opts.importance ?? 'l1');
  const keep = new Map<SpaceId, number[]>();
  let guessed = 0;
  for (const [root, { w }] of width) {
    const score = scores.get(root);
    if (!score) guessed++;
    keep.set(root, chooseKeep(spaces.size(root), w, cuts.get(root), score));
  }
  if (guessed && !opts.structureOnly) {
    log.warn(
      Code.ImportanceMissing,
      `${guessed} channel group${guessed > 1 ? 's have' : ' has'} no weights to rank channels by (graph-only model): the first channels of each group are kept`,
    );
  }
  const keepOf = (root: SpaceId) => keep.get(root);
  // A GroupNorm over a skip concat sees several groups: each of its groups must keep the same
  // count. Where ratios cannot agree (one side cannot be pruned), the groups involved stay
  // whole (a warning); explicit counts that disagree are an error.
  const relaxed: string[] = [];
  for (let changed = true; changed;) {
    changed = false;
    for (const ch of groups.chunkings) {
      const counts = unevenChunks(spaces, ch, keepOf);
      if (!counts) continue;
      const roots = [...new Set(spaces.resolve(ch.segs).map((s) => spaces.find(s)))].filter((r) => width.has(r));
      const counted = roots.map((r) => width.get(r)!.spec).find((s) => s.count !== undefined);
      if (counted) {
        log.error(
          Code.WidthBreaksGroups,
          `the widths chosen break ${ch.what} at '${ch.node.name}': its groups would keep ${[...new Set(counts)].join(' vs ')} channels; give the channel groups feeding it the same share`,
          counted.at ?? { node: ch.node.name },
        );
        return undefined;
      }
      for (const r of roots) {
        width.delete(r);
        keep.delete(r);
      }
      relaxed.push(`${ch.what} at '${ch.node.name}' (${roots.length} group${roots.length > 1 ? 's' : ''})`);
      changed = true;
    }
  }
  if (relaxed.length) {
    log.warn(
      Code.WidthBreaksGroups,
      `${relaxed.length} GroupNorm${relaxed.length > 1 ? 's' : ''} would see groups keeping different channel counts (their inputs join channels that cannot be pruned alike): those channel groups are kept whole`,
      specs[0]?.at,
      relaxed.slice(0, 5),
    );
  }
  if (failed()) return undefined;

  const paramsBefore = countParams(g);
  const resized = resizedValues(groups, keepOf);
  const sliced = sliceWeights(groups, keepOf);
  const rewritten = rewriteShapeConstants(g, groups, keepOf, resized);
  if (!recheck(g, opts.dims, resized, log)) return undefined;
  let channelsBefore = 0;
  let channelsAfter = 0;
  for (const [root] of width) {
    channelsBefore += spaces.size(root);
    channelsAfter += keep.get(root)!.length;
  }
  return {
    stats: {
      groups: classes.size,
      groups_pruned: width.size,
      groups_frozen: frozenCount,
      channels_removed: channelsBefore - channelsAfter,
      weights_sliced: sliced,
      shape_constants_rewritten: rewritten,
      params_before: paramsBefore,
      params_after: countParams(g),
      importance: [...width.keys()].every((r) => scores.has(r)) ? (opts.importance ?? 'l1') : 'first-channels',
    },
  };
}

function countParams(g: Graph): number {
  return g.weights.reduce((s, w) => s + (w.weight?.dims ?? []).reduce((a, b) => a * b, 1), 0);
}

/** `GroupNorm with 32 groups` / `a split into 8 heads` for the chunkings over a class. */
function chunkWords(groups: ChannelGroups, root: SpaceId): string {
  const { spaces } = groups;
  const words = new Set<string>();
  for (const ch of groups.chunkings)
    if (spaces.resolve(ch.segs).some((s) => spaces.find(s) === root)) words.add(ch.what);
  return words.size ? [...words].join(' and ') : 'its layout';
}

/** Re-infers every shape and checks each pruned value came out as planned. */
function recheck(
  g: Graph,
  dims: Record<string, number> | undefined,
  resized: Map<Value, number[]>,
  log: DiagnosticLog,
): boolean {
  const tmp = new DiagnosticLog();
  if (!inferConstants(g, dims, tmp)) {
    for (const d of tmp.errors())
      log.error(Code.PruneInconsistent, `after pruning, shapes no longer check: ${d.message}`, d.location, d.notes);
    return false;
  }
  for (const [v, want] of resized) {
    const got = v.type?.shape;
    if (got && got.length === want.length && got.every((d, i) => d === want[i])) continue;
    log.error(
      Code.PruneInconsistent,
      `after pruning, '${v.name}' has shape [${got?.join(',') ?? '?'}] where [${want.join(',')}] was planned (a shape computed from a constant pruning did not rewrite)`,
      { node: v.producer?.name ?? v.name },
    );
    return false;
  }
  return true;
}
