/**
 * Resource samples of the balancer's process group (RSS, V8 heap used, open file
 * descriptors per process, from `ProcessGroup.resources()`), their sums over the
 * processes, means of several samples, and the one-line form the soak prints.
 */
import type { ProcessResources } from '../core/workers/protocol.ts';

export interface Figures {
  rss: number;
  heapUsed: number;
  openFiles: number;
}

export interface Sample {
  /** Seconds of load since the churn began. */
  at: number;
  /** The primary first, then the workers. */
  procs: ProcessResources[];
  sum: Figures;
}

export function sampleOf(at: number, procs: ProcessResources[]): Sample {
  const sum = { rss: 0, heapUsed: 0, openFiles: 0 };
  for (const p of procs) {
    sum.rss += p.rss;
    sum.heapUsed += p.heapUsed;
    sum.openFiles += p.openFiles;
  }
  return { at, procs, sum };
}

/** The mean of several samples, per process (by position: primary, worker 1, …) and summed. */
export function meanOf(samples: readonly Sample[]): Sample {
  const first = samples[0];
  if (!first) throw new Error('no samples to average');
  const mean = (pick: (s: Sample) => number): number => samples.reduce((t, s) => t + pick(s), 0) / samples.length;
  const procs = first.procs.map((p, i) => ({
    pid: p.pid,
    rss: mean((s) => s.procs[i]?.rss ?? 0),
    heapUsed: mean((s) => s.procs[i]?.heapUsed ?? 0),
    openFiles: mean((s) => s.procs[i]?.openFiles ?? 0),
  }));
  return { at: first.at, procs, sum: { rss: mean((s) => s.sum.rss), heapUsed: mean((s) => s.sum.heapUsed), openFiles: mean((s) => s.sum.openFiles) } };
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function fds(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** `rss 123.4 MB  heap 12.3 MB  fds 45  [pid 1: 80.0 MB/8.1 MB/30, …]` */
export function describeSample(s: Sample): string {
  const per = s.procs.map((p) => `pid ${p.pid}: ${mb(p.rss)}/${mb(p.heapUsed)}/${fds(p.openFiles)}`).join(', ');
  return `rss ${mb(s.sum.rss)}  heap ${mb(s.sum.heapUsed)}  fds ${fds(s.sum.openFiles)}  [${per}]`;
}
