/**
 * The open-files limit of this process and what it allows, for the start line.
 *
 * Raising the soft limit to the hard one takes no code here: Node does it itself at
 * start, before any JavaScript runs (src/node.cc, PlatformInit: setrlimit(RLIMIT_NOFILE)
 * up to rlim_max), in the primary and in every worker it forks. So under `ulimit -Sn 256`
 * with a hard limit of 4096 the balancer has 4096, at no start-up cost. Node has no
 * setrlimit of its own to call, and a re-exec under `prlimit` or a native addon would cost
 * start-up time for nothing. What is left: read the limit (Linux: /proc/self/limits), say
 * it, and say how to raise the hard one (`ulimit -n`, LimitNOFILE= in a systemd unit)
 * when the soft one could not reach it.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface FdLimit {
  soft: number;
  /** Infinity for "unlimited". */
  hard: number;
  /** Descriptors open now. */
  open: number;
}

/** Undefined where /proc is not there (not Linux). */
export function fdLimit(): FdLimit | undefined {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line) return undefined;
    const n = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: n(line[1]!), hard: n(line[2]!), open: readdirSync('/proc/self/fd').length };
  } catch {
    return undefined;
  }
}

/** Below this, the start line says how to have more. */
const LOW = 65_536;

/**
 * "fd limit 1024 (about 500 proxied connections per process)": a proxied connection holds
 * two descriptors (client and node), and those open now are taken.
 */
export function describeFdLimit(l: FdLimit): string {
  if (!Number.isFinite(l.soft)) return 'fd limit unlimited';
  const about = Math.max(0, Math.floor((l.soft - l.open) / 2));
  const more =
    l.soft < l.hard
      ? `; the hard limit is ${l.hard}, but the soft one could not be raised to it`
      : l.soft < LOW
        ? '; more with ulimit -n (LimitNOFILE= under systemd)'
        : '';
  return `fd limit ${l.soft} (about ${about} proxied connections per process)${more}`;
}
