/**
 * The processes of the plugins part (bench/plugin-cost.ts) and one measured phase:
 * - a balancer per configuration, `node --no-node-snapshot bin/protobalance.js start
 *   --config <dir>/protobalance.config.ts` as a user runs it (bench/scale-proc.ts's
 *   `launch`), waited for until "accepting connections";
 * - one phase: the load child (bench/plugin-cost-load.ts) runs its loops against the
 *   balancer's listener; at the marks it sends when its measured window opens and closes,
 *   the balancer's utime + stime (+ reaped children) are read from /proc/<pid>/stat, and
 *   the machine's busy time with this process tree's (so the share other work took is
 *   known); the nodes' header counts are read before and after.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Child } from './children.ts';
import { configText, type PluginConfig } from './plugin-cost-configs.ts';
import type { HeaderCounts } from './plugin-cost-backend.ts';
import type { LoadMark, LoadResult, LoadRun } from './plugin-cost-load.ts';
import { machineBusyMicros, sampleTree } from './proc-tree.ts';
import { freePort, launch, type Running } from './scale-proc.ts';

const START_MS = 30_000;

/**
 * µs of CPU the balancer has used: utime + stime from /proc/<pid>/stat (with cutime + cstime
 * of children it reaped), summed over its tree, which with `workers: 1` is that one process
 * (`startBalancer` checks; an esbuild service it might keep would count too).
 */
function balancerCpu(pid: number): { micros: number; others: string[] } {
  const tree = sampleTree(pid);
  if (tree.pids.length === 0) throw new Error(`the balancer (pid ${pid}) is gone`);
  return { micros: tree.cpuMicros, others: tree.pids.slice(1).map(command) };
}

function command(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return `pid ${pid} (gone)`;
  }
}

export interface RunningBalancer {
  config: PluginConfig;
  port: number;
  proc: Running;
  pid: number;
  startMs: number;
}

export async function startBalancer(c: PluginConfig, root: string, nodes: readonly string[], env: Record<string, string>): Promise<RunningBalancer> {
  const dir = path.join(root, c.key);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'protobalance.config.ts');
  await writeFile(file, configText(c, dir, port, nodes));
  const proc = launch(['start', '--config', file], env);
  try {
    const ready = await proc.waitFor(/accepting connections/, START_MS, '"accepting connections"');
    if (proc.child.pid === undefined) throw new Error('no pid');
    return { config: c, port, proc, pid: proc.child.pid, startMs: ready.atMs };
  } catch (err) {
    await proc.stop(1_000);
    throw new Error(`${c.label}: ${err instanceof Error ? err.message : String(err)}\n${proc.tail()}`);
  }
}

export interface PhasePlan {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  maxOps: number;
}

export interface PhaseResult {
  perSecond: number;
  ops: number;
  errors: number;
  firstError?: string;
  warmupOps: number;
  /** Balancer CPU per completed connection in the window (µs). */
  cpuPerConn: number;
  /** Share of the balancer process's CPU time per wall second in the window (1 = one core). */
  cpuCores: number;
  medianMs: number;
  p99Ms: number;
  /** Over the window: CPU µs of the machine busy with work other than this process tree. */
  othersMicros: number;
  windowMicros: number;
  /** Headers the nodes read during the phase, and how many named a 10.0.0.0/8 client. */
  headers: number;
  fromTenNet: number;
  badHeaders: number;
  /** Processes of the balancer's tree besides itself at either end of the window (none expected). */
  extraProcesses: string[];
}

function ask<T extends { type: string }>(child: Child, type: string, message: unknown, timeoutMs: number, onOther?: (m: { type?: string }) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.process.off('message', listen), reject(new Error(`${child.name}: no '${type}' within ${timeoutMs / 1000} s`))), timeoutMs);
    const listen = (m: { type?: string }) => {
      if (m?.type !== type) return onOther?.(m);
      clearTimeout(timer);
      child.process.off('message', listen);
      resolve(m as T);
    };
    child.process.on('message', listen);
    child.process.send(message as object);
  });
}

const headerCounts = (backend: Child) => ask<HeaderCounts>(backend, 'headers', { type: 'headers' }, 5_000);

export async function phase(b: RunningBalancer, load: Child, backend: Child, plan: PhasePlan): Promise<PhaseResult> {
  const before = await headerCounts(backend);
  const marks: Partial<Record<LoadMark['at'], { cpu: { micros: number; others: string[] }; busy: number; ours: number; at: number }>> = {};
  const run: LoadRun = { type: 'run', port: b.port, header: b.config.header, ...plan };
  const r = await ask<LoadResult>(load, 'result', run, plan.warmupMs + plan.durationMs + 15_000, (m) => {
    if (m?.type !== 'mark') return;
    marks[(m as LoadMark).at] = { cpu: balancerCpu(b.pid), busy: machineBusyMicros(), ours: sampleTree(process.pid).cpuMicros, at: performance.now() };
  });
  const after = await headerCounts(backend);
  const open = marks.measuring;
  const close = marks.done;
  if (!open || !close) throw new Error(`${b.config.label}: the load generator did not mark its window`);
  if (b.proc.child.exitCode !== null || b.proc.child.signalCode !== null) throw new Error(`${b.config.label}: the balancer exited during the phase\n${b.proc.tail()}`);
  const cpu = close.cpu.micros - open.cpu.micros;
  const windowMicros = (close.at - open.at) * 1000;
  return {
    perSecond: r.ops / r.seconds,
    ops: r.ops,
    errors: r.errors,
    firstError: r.firstError,
    warmupOps: r.warmupOps,
    cpuPerConn: cpu / Math.max(1, r.ops),
    cpuCores: cpu / windowMicros,
    medianMs: r.medianMs,
    p99Ms: r.p99Ms,
    othersMicros: close.busy - open.busy - (close.ours - open.ours),
    windowMicros,
    headers: after.headers - before.headers,
    fromTenNet: after.fromTenNet - before.fromTenNet,
    badHeaders: after.badHeaders - before.badHeaders,
    extraProcesses: [...new Set([...open.cpu.others, ...close.cpu.others])],
  };
}
