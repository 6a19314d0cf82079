// Calibration rows of a phone profile: each published measurement priced on
// the reference model it was taken on (models/<family>/*.json, built
// graph-only), at its batch and latent size.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import { loadMeasurements, type Measurement } from '../devices/measurements.ts';
import type { CalibrationRow } from './calibrate.ts';
import { planCost } from './plan.ts';
import { familyConfig, latentDims, sourceTable, type Part } from './tables.ts';

/** Text encoder runs in a pipeline row: the prompt and the negative prompt. */
const PIPELINE_TEXT_RUNS = 2;

export async function measurementRows(profile: DeviceProfile, log: DiagnosticLog): Promise<CalibrationRow[] | undefined> {
  const all = loadMeasurements(log);
  if (!all) return undefined;
  const mine = all.filter((m) => m.profile === profile.name);
  if (!mine.length) {
    log.error(Code.CalibrationRows, `no published measurements calibrate '${profile.name}' (models/devices/measurements.json)`);
    return undefined;
  }
  const rows: CalibrationRow[] = [];
  for (const m of mine) {
    const part = async (p: Part, batch: number, times: number) => {
      const dims = m.latent && p !== 'text_encoder' ? latentDims(m.latent[0] * 8) : {};
      const t = await sourceTable({ kind: 'config', file: familyConfig(p, m.model) }, [], dims, log);
      return t && { plan: planCost(t, profile, { batch }), times };
    };
    const parts =
      m.component === 'pipeline'
        ? [await part('text_encoder', 1, PIPELINE_TEXT_RUNS), await part('unet', m.batch, m.steps ?? 1), await part('vae_decoder', 1, 1)]
        : [await part(m.component, m.component === 'unet' ? m.batch : 1, 1)];
    if (parts.some((p) => !p)) return undefined;
    rows.push({ id: m.id, measured_ms: m.latency_ms, parts: parts as CalibrationRow['parts'], note: rowNote(m) });
  }
  return rows;
}

function rowNote(m: Measurement): string {
  return `${m.model} ${m.component}${m.component === 'unet' ? ` batch ${m.batch}` : ''}${m.steps ? `, ${m.steps} steps` : ''}: ${m.source}`;
}
