/**
 * The soak's report: a markdown section (bench/SOAK.md) with the settled and final
 * resource levels of the balancer's process group, their change and a PASS/FAIL per
 * figure, then what the load and the churn did, so a reader can judge the run without
 * re-running it.
 */
import os from 'node:os';
import type { NodeStatus } from '../core/status.ts';
import type { LoadCounts } from './soak-load.ts';
import { describeSample, fds, mb, type Figures, type Sample } from './soak-sample.ts';

/** Growth or shrinkage beyond this share of the settled level fails the figure. */
export const TOLERANCE = 0.05;

export interface Quiet {
  /** Mean of the quiet window's samples. */
  mean: Sample;
  samples: Sample[];
  status: NodeStatus[];
  /** TCP sockets the group still held (listeners aside), one line each. */
  sockets: string[];
}

export interface ReportInput {
  date: Date;
  command: string;
  revision: string;
  durationSec: number;
  wallSec: number;
  concurrency: number;
  /** Size of the long-lived pool. */
  longCount: number;
  settledAt: number;
  settled: Quiet;
  final: Quiet;
  counts: LoadCounts;
  unexpectedSamples: string[];
  backendAccepts: number[];
  churn: { flips: number; reds: number; reloads: number; edits: number; reloadMs: number[]; controlErrors: string[] };
  logTally: Map<string, number>;
  pidsSeen: number[];
  lines: string[];
  /** The 10 s samples taken under load. */
  loaded: Sample[];
}

interface Row {
  name: string;
  key: keyof Figures;
  show: (n: number) => string;
}

const ROWS: Row[] = [
  { name: 'RSS', key: 'rss', show: mb },
  { name: 'V8 heap used', key: 'heapUsed', show: mb },
  { name: 'open fds', key: 'openFiles', show: fds },
];

const pct = (from: number, to: number): number => (from === 0 ? 0 : (to - from) / from);
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const within = (from: number, to: number): boolean => Math.abs(pct(from, to)) <= TOLERANCE;

/** PASS when every figure is within the tolerance. */
export function passed(input: Pick<ReportInput, 'settled' | 'final'>): boolean {
  return ROWS.every((r) => within(input.settled.mean.sum[r.key], input.final.mean.sum[r.key]));
}

/** The headline table alone (also printed to the console). */
export function headlineTable(input: ReportInput): string {
  const s = input.settled.mean.sum;
  const f = input.final.mean.sum;
  return [
    `| figure (sum over ${input.final.mean.procs.length} processes) | settled (quiet, t=${input.settledAt} s) | final (quiet, after the load) | change | within ${TOLERANCE * 100}% |`,
    '|---|---:|---:|---:|:---:|',
    ...ROWS.map((r) => `| ${r.name} | ${r.show(s[r.key])} | ${r.show(f[r.key])} | ${signed(pct(s[r.key], f[r.key]))} | ${within(s[r.key], f[r.key]) ? 'PASS' : 'FAIL'} |`),
  ].join('\n');
}

function perProcessTable(input: ReportInput): string {
  const rows = input.final.mean.procs.map((p, i) => {
    const s = input.settled.mean.procs[i];
    const cell = (k: keyof Figures, show: (n: number) => string) => (s ? `${show(s[k])} → ${show(p[k])} (${signed(pct(s[k], p[k]))})` : `– → ${show(p[k])}`);
    const samePid = s && s.pid !== p.pid ? ` (was ${s.pid})` : '';
    return `| ${i === 0 ? 'primary' : `worker ${i}`} | ${p.pid}${samePid} | ${cell('rss', mb)} | ${cell('heapUsed', mb)} | ${cell('openFiles', fds)} |`;
  });
  return ['| process | pid | RSS settled → final | heap settled → final | fds settled → final |', '|---|---|---|---|---|', ...rows].join('\n');
}

const meanSum = (samples: readonly Sample[], k: keyof Figures): number => samples.reduce((t, s) => t + s.sum[k], 0) / samples.length;

/**
 * A second look, without a verdict: the mean of the 10 s samples under load, minute by
 * minute. Noisy (connections in flight, GC timing), but it shows the shape: a steady
 * leak keeps rising to the end, a plateau levels off, and a GC-timing blip in one quiet
 * window does not show at all.
 */
function trendTable(input: ReportInput): string {
  const minutes = Math.ceil(input.durationSec / 60);
  const byMinute = Array.from({ length: minutes }, (_, m) => input.loaded.filter((s) => s.at > m * 60 && s.at <= (m + 1) * 60));
  const cells = (r: Row): string => byMinute.map((ss) => (ss.length === 0 ? '–' : r.show(meanSum(ss, r.key)).replace(' MB', ''))).join(' | ');
  const second = byMinute[1] ?? [];
  const last = byMinute.at(-1) ?? [];
  const change = (r: Row): string => {
    if (byMinute.length < 3 || second.length === 0 || last.length === 0) return '–';
    return signed(pct(meanSum(second, r.key), meanSum(last, r.key)));
  };
  return [
    `| figure (sum), under load | ${byMinute.map((_, m) => `min ${m + 1}`).join(' | ')} | min 2 → last |`,
    `|---|${byMinute.map(() => '---:').join('|')}|---:|`,
    ...ROWS.map((r) => `| ${r.name}${r.key === 'openFiles' ? '' : ' (MB)'} | ${cells(r)} | ${change(r)} |`),
  ].join('\n');
}

function quietSamples(name: string, q: Quiet): string {
  return q.samples.map((s, i) => `${name} ${i + 1}: ${describeSample(s)}`).join('\n');
}

const held = (q: Quiet): string => (q.sockets.length === 0 ? 'none' : q.sockets.join('; '));

function share(counts: number[]): string {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return counts.map((n, i) => `n${i + 1} ${n} (${((n / total) * 100).toFixed(1)}%)`).join(', ');
}

function quietStatus(q: Quiet): string {
  return q.status.map((n) => `${n.id}: ${n.state}, active ${n.activeConnections}, total ${n.totalConnections}, failures ${n.failures}`).join('; ');
}

export function renderReport(input: ReportInput): string {
  const c = input.counts;
  const minutes = input.durationSec / 60;
  const reloadMs = [...input.churn.reloadMs].sort((a, b) => a - b);
  const median = reloadMs[Math.floor(reloadMs.length / 2)] ?? 0;
  const unexpected = Object.entries(c.unexpectedKinds).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const logs = [...input.logTally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `- ${n} × ${k}`);
  const long = c.long;
  const churnKilled = c.killedByRed - long.killedByRed;
  const how = Object.entries(long.killedHow).map(([k, n]) => `${k} ${n}`);
  const killedHow = how.length > 0 ? ` (as the client saw it: ${how.join(', ')})` : '';
  const noKill =
    c.killedByRed === 0 && input.churn.reds > 0
      ? ` — ${input.churn.reds} Reds and none killed anything${input.longCount > 0 ? ': the long-lived pool should have had connections on each Red node, so this needs looking into' : ' (no long-lived pool in this run: the churn connections last milliseconds, and after 15 s of Yellow none is left on the node)'}`
      : '';
  const cpu = os.cpus();
  return `## Churn soak, ${input.date.toISOString().slice(0, 16).replace('T', ' ')} UTC

Command: \`${input.command}\` at commit ${input.revision} — ${minutes.toFixed(minutes < 1 ? 2 : 0)} min of load (${input.wallSec.toFixed(0)} s wall in all), Node ${process.version}, ${os.platform()} ${os.release()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}.

Balancer: a \`ProcessGroup\` (primary + 1 worker, \`workers: 2\`) built from a config file as \`protobalance start\` builds it; one listener on 127.0.0.1, cluster \`c\` of 3 echo nodes, round-robin. Load: ${input.concurrency} loops of connect → write 1–16 KB → read the echo → close (70% close after the echo, 20% half-close first, 10% destroyed mid-stream), and beside them ${input.longCount} long-lived connections, each writing a 32-byte message and reading its echo every ~500 ms, open until a Red node kills them (then they reconnect), closed gracefully before each quiet window and reopened after it. Churn: every 15 s a node steps green → yellow → red → green (one node at a time, in turn); every 30 s a reload, every other one after editing the file (n3's loadFactor 1 ↔ 2).

${headlineTable(input)}

**Verdict: ${passed(input) ? 'PASS' : 'FAIL'}** (every figure within ±${TOLERANCE * 100}% of its settled level; a drop beyond that also fails, as "within" asks for).

How the levels are taken: open fds go up and down with the connections in flight, and RSS and heap with the buffers of the moment, so a sample taken under load is not comparable with one taken after it. Both levels are therefore taken at a quiet moment: the load is paused (no new connection; the open ones finish; the long-lived ones are closed gracefully), 5 s later three samples are taken 1 s apart, and their mean is the level. Each quiet sample is taken after a full garbage collection in every process of the group (\`group.resources({ gc: true })\`), so the heap figures compare what is live, not how much garbage happened to be waiting. *Settled* is the quiet window at t=${input.settledAt} s of load (after which the load resumes); *final* is the same window after the churn has stopped. The 10 s samples under load, listed below for the trend, are plain ones (no GC, so as not to disturb the load): their heap figures include garbage not yet collected.

Trend under load (informational, no verdict):

${trendTable(input)}

Per process (settled → final):

${perProcessTable(input)}

Load:
- churn connections: ${c.connections} (${(c.connections / input.durationSec).toFixed(0)}/s); echo verified ${c.ok} (of which half-closed ${c.halfClosedOk}); destroyed mid-stream on purpose ${c.aborted}
- killed by a Red node (expected): ${c.killedByRed} (long-lived ${long.killedByRed}, churn ${churnKilled}) over ${input.churn.reds} Red${input.churn.reds === 1 ? '' : 's'}${noKill}
- long-lived: ${long.opened} connections opened, ${long.exchanges} echoes verified; closed gracefully ${long.closed}, killed by Red ${long.killedByRed}${killedHow}, unexpected ${long.unexpected}
- **unexpected errors: ${c.unexpected}** (${unexpected})
${input.unexpectedSamples.map((s) => `  - ${s}\n`).join('')}- bytes: ${mb(c.bytesSent)} sent, ${mb(c.bytesReceived)} echoed back
- share per node (connections that reached it, long-lived ones included, from the backends' name byte): ${share(c.perNode)}
- accepted per backend: ${share(input.backendAccepts)}
- balancer's view at the final quiet moment: ${quietStatus(input.final)}
- open connections in the balancer at the quiet moments (should be 0: every client has finished, the long-lived ones closed): settled ${input.settled.status.reduce((t, n) => t + n.activeConnections, 0)}, final ${input.final.status.reduce((t, n) => t + n.activeConnections, 0)}
- TCP sockets the group still held then (listeners aside; from /proc): settled ${held(input.settled)}; final ${held(input.final)}

Churn: ${input.churn.flips} state changes, ${input.churn.reloads} reloads (${input.churn.edits} after a file edit; median ${median.toFixed(0)} ms, max ${(reloadMs.at(-1) ?? 0).toFixed(0)} ms). Control errors: ${input.churn.controlErrors.length === 0 ? 'none' : input.churn.controlErrors.join('; ')}.

Group processes seen (pids): ${input.pidsSeen.join(', ')}${input.pidsSeen.length > 2 ? ' — more than 2: a process was replaced during the run' : ''}.

Balancer log lines (warn and above), by message:
${logs.length > 0 ? logs.join('\n') : '- none'}

<details><summary>Samples every 10 s (sums over the group; per process: RSS/heap/fds)</summary>

\`\`\`
${input.lines.join('\n')}
\`\`\`

The quiet samples themselves:

\`\`\`
${quietSamples('settled', input.settled)}
${quietSamples('final', input.final)}
\`\`\`
</details>
`;
}
