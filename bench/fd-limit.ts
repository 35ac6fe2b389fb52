/**
 * File descriptors for the idle-connection figure. Holding N idle connections through a
 * proxy costs N descriptors in the load generator and the backend and 2N in the proxy, and
 * every process inherits this one's limit. So before anything is started the soft limit is
 * raised to the hard one when it is too low (`prlimit --pid <this pid>`: Node has no
 * setrlimit), and if even the hard limit is too low the count is lowered and the report says so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface FdLimits {
  soft: number;
  hard: number;
}

/** Descriptors a proxy needs besides the 2 per idle connection (listeners, logs, load phases, pipes). */
const SPARE = 1_000;

export function readFdLimits(pid: number | 'self' = 'self'): FdLimits | undefined {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!line) return undefined;
    const n = (v: string | undefined) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
    return { soft: n(line[1]), hard: n(line[2]) };
  } catch {
    return undefined;
  }
}

export interface IdlePlan {
  count: number;
  limits: FdLimits | undefined;
  /** What was done or had to give, for the report; undefined when nothing. */
  note: string | undefined;
}

/** Make room for `wanted` idle connections, or say how many fit. */
export function planIdle(wanted: number): IdlePlan {
  const need = 2 * wanted + SPARE;
  const before = readFdLimits();
  if (!before) return { count: wanted, limits: undefined, note: 'file descriptor limit unknown (no /proc/self/limits); idle count not checked' };
  let limits = before;
  let note: string | undefined;
  if (before.soft < need && before.hard > before.soft) {
    try {
      const to = Math.min(before.hard, Math.max(need, before.soft));
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${to}:${before.hard}`], { timeout: 5_000, stdio: 'ignore' });
      limits = readFdLimits() ?? before;
      note = `soft limit on open files raised from ${before.soft} to ${limits.soft} for this run (prlimit)`;
    } catch (err) {
      note = `could not raise the open-files soft limit ${before.soft} (prlimit: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    }
  }
  const fits = Math.floor((limits.soft - SPARE) / 2);
  if (fits >= wanted) return { count: wanted, limits, note };
  const count = Math.max(100, fits);
  return { count, limits, note: `${note ? `${note}; ` : ''}open-files limit ${limits.soft} allows ${count} idle connections, not ${wanted}` };
}

/** The descriptor allowance to give proxies that set their own (nginx `worker_rlimit_nofile`). */
export function proxyFdLimit(plan: IdlePlan): number {
  return Math.min(plan.limits?.soft ?? 2 * plan.count + SPARE, 1_048_576);
}
