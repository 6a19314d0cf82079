// The machine this runs on, as far as a measured profile (local-cpu) cares:
// the CPU's name, family and model (two "AMD EPYC" of different generations
// differ by tens of percent) and its core count.
import fs from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  family?: number;
  model?: number;
  cores: number;
}

let cached: Machine | undefined;

/** Read once per process: loadDevice asks each time it loads a measured profile. */
export function thisMachine(): Machine {
  return (cached ??= readMachine());
}

function readMachine(): Machine {
  const cpu = os.cpus()[0]?.model?.trim() || 'unknown CPU';
  const m: Machine = { cpu, cores: os.availableParallelism?.() ?? os.cpus().length };
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(\\d+)`, 'm').exec(info)?.[1];
    const family = field('cpu family');
    const model = field('model');
    if (family !== undefined) m.family = Number(family);
    if (model !== undefined) m.model = Number(model);
  } catch {
    // Not Linux: the name and the cores are what there is.
  }
  return m;
}

export function describeMachine(m: Machine): string {
  const id = m.family !== undefined ? ` (family ${m.family}, model ${m.model ?? '?'})` : '';
  return `${m.cpu}${id}, ${m.cores} core${m.cores === 1 ? '' : 's'}`;
}

/** Same CPU (name, and family and model where both say): core counts may differ, a profile runs one thread. */
export function sameCpu(a: Machine, b: Machine): boolean {
  if (a.cpu !== b.cpu) return false;
  if (a.family !== undefined && b.family !== undefined && a.family !== b.family) return false;
  return !(a.model !== undefined && b.model !== undefined && a.model !== b.model);
}
