/**
 * CPU time and resident memory of a whole process tree, read from /proc: a proxy under
 * test may be one process (HAProxy: threads), a master and workers (nginx), or a primary
 * that forks workers (Proto Balance with `workers`). Counting only the pid we spawned would
 * miss the processes that do the work, so every figure here covers the pid and all its
 * descendants (found by walking the ppid field of /proc/<pid>/stat).
 *
 * Linux only; elsewhere `treeAvailable()` is false and the callers leave those cells empty.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** Clock ticks since boot: together with the pid it names one process, whatever reuses the pid later. */
  startTime: number;
  /** utime + stime of the process, plus cutime + cstime of its children it has reaped (ticks). */
  ticks: number;
  rssBytes: number;
  threads: number;
}

export interface TreeSample {
  pids: number[];
  /** Threads over the tree (Node's own libuv and V8 threads included). */
  threads: number;
  cpuMicros: number;
  rssBytes: number;
}

let constants: { clkTck: number; pageSize: number } | undefined;

function sysconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 5_000 }).trim());
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

function units(): { clkTck: number; pageSize: number } {
  constants ??= { clkTck: sysconf('CLK_TCK', 100), pageSize: sysconf('PAGESIZE', 4096) };
  return constants;
}

export function treeAvailable(): boolean {
  return process.platform === 'linux' && existsSync('/proc/self/stat');
}

/** One /proc/<pid>/stat, or undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const field = (n: number) => Number(rest[n - 3]);
  const { pageSize } = units();
  return {
    pid,
    ppid: field(4),
    startTime: field(22),
    // A worker that exits and is reaped mid-phase moves its CPU into its parent's cutime/cstime;
    // counting those keeps the delta over a phase whole.
    ticks: field(14) + field(15) + field(16) + field(17),
    rssBytes: field(24) * pageSize,
    threads: field(20),
  };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** The root and every live descendant. */
export function treeStats(root: number): ProcStat[] {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const top = stats.find((s) => s.pid === root);
  if (!top) return [];
  const tree = [top];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
  return tree;
}

/** CPU (µs, since each process started) and RSS summed over the tree of `root`. */
export function sampleTree(root: number): TreeSample {
  const tree = treeStats(root);
  const { clkTck } = units();
  const ticks = tree.reduce((sum, s) => sum + s.ticks, 0);
  return {
    pids: tree.map((s) => s.pid),
    threads: tree.reduce((sum, s) => sum + s.threads, 0),
    cpuMicros: (ticks * 1e6) / clkTck,
    rssBytes: tree.reduce((sum, s) => sum + s.rssBytes, 0),
  };
}

/** True while the process that had `startTime` still holds `pid`. */
export function sameProcess(pid: number, startTime: number): boolean {
  return readStat(pid)?.startTime === startTime;
}

/**
 * CPU time the machine has spent busy since boot (µs, all CPUs: user, nice, system, irq,
 * softirq), from /proc/stat: with this process's own tree it tells how much of the machine
 * other work took during a run. irq and softirq count too: on this kernel the loopback
 * traffic we cause is partly charged to our processes' stime (softirq work done in their
 * context), and leaving it out made the others' share come out below zero.
 */
export function machineBusyMicros(): number {
  try {
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + irq + softirq) * 1e6) / units().clkTck;
  } catch {
    return Number.NaN;
  }
}
