// Calibration rows of a profile from published measurements: the rows its
// calibration.select takes (one device, its runtimes, one toolchain
// snapshot), each planned on the graph it was measured on — a graph-only
// export in models/calibration/, or a builder config in models/<family>/ —
// at its batch, latent size and precision.
//
// Rows are grouped into architectures for cross-validation by what their
// graphs compute, not by name: torch.onnx folds BatchNorm into the convs, so
// VGG-11 and VGG-11-BN are one graph and must leave the fit together.
import { targetDims } from '../../ir/bind.ts';
import crypto from 'node:crypto';
import path from 'node:path';
import { Code } from '../../codes.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { DeviceProfile } from '../../devices/schema.ts';
import { loadMeasurements, selectRows, type Measurement } from '../../devices/measurements.ts';
import { globToRegExp } from '../../blocks/select.ts';
import { PROJECT_ROOT } from '../../root.ts';
import type { CalibrationRow } from './profile-fit.ts';
import { planCost } from '../roofline/plan.ts';
import { effectivePrecision } from '../roofline/roofline.ts';
import type { CostTable } from '../table/format.ts';
import { familyConfig, sourceTable, type ModelSource } from '../table/sources.ts';
import type { ModelName } from '../../model-names.ts';

export const CALIBRATION_DIR = path.join(PROJECT_ROOT, 'models', 'calibration');

/** The source and bound dims of a row's graph. */
export function rowSource(
  m: Pick<Measurement, 'graph' | 'latent'>,
): { src: ModelSource; dims: Record<string, number> } | undefined {
  const built = /^builder:([a-z0-9-]+)\/(unet|vae_decoder|text_encoder)$/.exec(m.graph);
  if (built) {
    const part = built[2] as ModelName;
    const dims = part !== 'text_encoder' && m.latent ? targetDims(m.latent[0] * 8) : {};
    return { src: { kind: 'config', file: familyConfig(part, built[1]) }, dims };
  }
  const folder = /^calibration\/([A-Za-z0-9_.-]+)$/.exec(m.graph);
  return folder
    ? { src: { kind: 'file', file: path.join(CALIBRATION_DIR, folder[1], 'model.onnx') }, dims: {} }
    : undefined;
}

/** The published rows a profile calibrates on, planned; undefined (with diagnostics) when one cannot be. */
export async function publishedRows(profile: DeviceProfile, log: DiagnosticLog): Promise<CalibrationRow[] | undefined> {
  const sel = profile.calibration?.select;
  if (!sel) {
    log.error(Code.CalibrationRows, `'${profile.name}' selects no published rows (calibration.select)`);
    return undefined;
  }
  const all = loadMeasurements(log);
  if (!all) return undefined;
  const mine = selectRows(all, sel);
  if (!mine.length) {
    log.error(
      Code.CalibrationRows,
      `no published measurements match '${profile.name}' (device ${sel.device}, runtimes ${sel.runtimes.join(', ')}, snapshot ${sel.snapshot ?? 'none'}) in models/devices/measurements.json`,
    );
    return undefined;
  }
  const weights = (profile.calibration?.weights ?? []).map((w) => ({ re: globToRegExp(w.graph), weight: w.weight }));
  const tables = new Map<string, CostTable>();
  const rows: CalibrationRow[] = [];
  for (const m of mine) {
    const t = tables.get(m.graph) ?? (await rowTable(m, log));
    if (!t) return undefined;
    tables.set(m.graph, t);
    const { precision } = effectivePrecision(profile, m.scheme ?? undefined);
    if (m.weights) precision.weights = m.weights;
    rows.push({
      id: m.id,
      measured_ms: m.latency_ms,
      parts: [{ plan: planCost(t, profile, { batch: m.batch, precision }), times: 1 }],
      weight: weights.find((w) => w.re.test(m.graph))?.weight ?? 1,
      graph: m.graph,
      scheme: m.scheme ?? undefined,
      note: `${m.graph} ${m.scheme ?? m.precision}, batch ${m.batch}: ${m.source}`,
    });
  }
  nameArchitectures(rows, tables);
  return rows;
}

async function rowTable(m: Measurement, log: DiagnosticLog): Promise<CostTable | undefined> {
  const s = rowSource(m);
  if (!s) {
    log.error(
      Code.ReferenceModel,
      `row ${m.id}: graph '${m.graph}' is neither calibration/<folder> nor builder:<family>/<part>`,
    );
    return undefined;
  }
  return sourceTable(s.src, [], s.dims, log, { file: s.src.file }, { width: false });
}

/** Each row's architecture: the first graph name (sorted) among the graphs that compute the same. */
function nameArchitectures(rows: CalibrationRow[], tables: Map<string, CostTable>): void {
  const byPrint = new Map<string, string>();
  for (const g of [...tables.keys()].sort()) {
    const p = fingerprint(tables.get(g)!);
    if (!byPrint.has(p)) byPrint.set(p, g);
  }
  for (const r of rows) r.architecture = byPrint.get(fingerprint(tables.get(r.graph!)!));
}

const prints = new WeakMap<CostTable, string>();

/** What a table computes, without names: ops, their work and their traffic. */
export function fingerprint(t: CostTable): string {
  let p = prints.get(t);
  if (!p) {
    const n = t.nodes;
    p = crypto
      .createHash('sha256')
      .update(JSON.stringify([t.batch, n.op, n.macs, n.vec, n.wElems, n.ins, n.outs, t.values.elems]))
      .digest('hex');
    prints.set(t, p);
  }
  return p;
}
