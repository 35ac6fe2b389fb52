/**
 * The side-by-side section of bench/RESULTS.md: the table (Proto Balance twice, with client
 * affinity off and on), then everything a reader needs to trust or redo it (tool versions, the exact wrk and iperf3 command lines, which tools were
 * absent and what ran instead, how CPU and memory were counted).
 */
import { availableParallelism } from 'node:os';
import type { Tool, ToolName } from './external.ts';
import type { IdlePlan } from './fd-limit.ts';
import { HAPROXY_SETTINGS } from './haproxy.ts';
import { iperfCommandLine } from './iperf.ts';
import { sideBySideTable, type SideColumn, type SideRow } from './report.ts';
import type { Workers } from './protobalance-cli.ts';
import type { Plan, TargetFigures, TargetKey } from './side-by-side.ts';
import { WRK_CONNECTIONS, wrkCommandLine } from './wrk.ts';

export const SIDE_HEADING = '## Side by side: direct, Proto Balance, HAProxy, nginx';

export interface Setup {
  quick: boolean;
  plan: Plan;
  tools: Record<ToolName, Tool>;
  idle: IdlePlan;
  httpBackend: 'nginx' | 'node' | undefined;
  workers: { requested: Workers | undefined; fieldExists: boolean };
  /** Why a proxy could not run, per proxy. */
  missing: Partial<Record<TargetKey, string | undefined>>;
  loadBefore: number;
  /** Share of the machine's CPU time that processes outside this benchmark used during the run. */
  othersShare: number;
  seconds: number;
}

/** Above this share of the CPUs taken by other work, the section warns that its figures are skewed. */
const OTHERS_WARN = 0.1;

function pct(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : 'an unknown share';
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function rows(f: Map<TargetKey, TargetFigures>, s: Setup): SideRow[] {
  const pick = (get: (t: TargetFigures) => number | undefined) =>
    Object.fromEntries([...f].map(([k, t]) => [k, get(t)])) as Partial<Record<SideColumn, number>>;
  const wrk = s.tools.wrk.path !== undefined;
  const iperf = s.tools.iperf3.path !== undefined;
  const kaWhat = wrk ? `wrk -t2 -c${WRK_CONNECTIONS}, 64 B body` : `Node load generator, ${WRK_CONNECTIONS} connections, 16 B request, 64 B answer`;
  const ncWhat = wrk ? "wrk, 'Connection: close'" : 'Node load generator, 32 loops: connect, request, answer, close';
  const bulkWhat = iperf ? 'iperf3, sum_received' : 'Node load generator, upload';
  return [
    { figure: `keep-alive requests/s (${kaWhat})`, values: pick((t) => t.keepAlive?.perSecond) },
    { figure: 'keep-alive p99 latency (ms)', values: pick((t) => t.keepAlive?.p99Ms) },
    { figure: `new connections/s (${ncWhat})`, values: pick((t) => t.close?.perSecond) },
    { figure: 'new connection p99 latency (ms)', values: pick((t) => t.close?.p99Ms) },
    { figure: `bulk, 1 stream (Gbit/s, ${bulkWhat})`, values: pick((t) => t.bulk1) },
    { figure: `bulk, 8 streams (Gbit/s, ${bulkWhat})`, values: pick((t) => t.bulk8) },
    { figure: 'CPU per keep-alive request (µs, whole process tree) ¹', values: pick((t) => t.keepAlive?.cpuMicrosPerOp) },
    { figure: 'CPU per new connection (µs, whole process tree) ¹', values: pick((t) => t.close?.cpuMicrosPerOp) },
    { figure: `RSS per idle proxied connection (KiB, ${s.idle.count.toLocaleString('en-US')} open, whole process tree) ²`, values: pick((t) => t.idleKiB) },
    { figure: 'RSS at rest, after start (MiB, whole process tree)', values: pick((t) => t.restMiB) },
    { figure: `start to first reply through it (ms, median of ${s.plan.startRuns}) ³`, values: pick((t) => (t.starts ? median(t.starts) : undefined)) },
  ];
}

function workersNote(s: Setup): string {
  if (!s.workers.fieldExists) return `Proto Balance \`workers\`: this core has no such config field yet, so one process${s.workers.requested !== undefined ? ` (--workers=${s.workers.requested} ignored)` : ''}`;
  return s.workers.requested === undefined
    ? 'Proto Balance `workers` (both targets): left out of the config (the core default)'
    : `Proto Balance \`workers: ${JSON.stringify(s.workers.requested)}\` (both targets, from --workers)`;
}

function shapes(f: Map<TargetKey, TargetFigures>): string {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 'es'}`;
  const list = [...f].flatMap(([k, t]) => (t.shape ? [`${k} ${plural(t.shape.processes, 'process')} (${t.shape.threads} threads)`] : []));
  return list.length ? list.join(', ') : 'not sampled';
}

function notes(f: Map<TargetKey, TargetFigures>, s: Setup, warnings: readonly string[]): string[] {
  const { plan, tools } = s;
  const absent = (['wrk', 'iperf3', 'haproxy', 'nginx'] as const).filter((n) => !tools[n].path).map((n) => (tools[n].hidden ? `${n} (hidden by PB_BENCH_WITHOUT)` : n));
  const versions = (['wrk', 'iperf3', 'haproxy', 'nginx'] as const).map((n) => `${n}: ${tools[n].path ? `\`${tools[n].version ?? 'version unknown'}\`` : 'absent'}`);
  const errors: string[] = [];
  for (const [k, t] of f) {
    for (const [what, r] of [['keep-alive', t.keepAlive], ['new connections', t.close]] as const) {
      if (r && r.errors > 0) errors.push(`warning: ${k}, ${what}: ${r.errors} errors reported by the load generator (of ${r.requests.toLocaleString('en-US')} requests)`);
    }
  }
  const unavailable = Object.entries(s.missing).filter(([, why]) => why);
  return [
    `run: ${new Date().toISOString()}, ${s.quick ? '--quick' : 'default'} mode, ${s.seconds.toFixed(1)} s; ${availableParallelism()} CPUs shared by the load tool, the proxy and the backends (nothing pinned), 1-minute load average before ${s.loadBefore.toFixed(2)}; processes outside this benchmark used ${pct(s.othersShare)} of the machine's CPU time meanwhile (/proc/stat less this process tree)`,
    ...(s.othersShare > OTHERS_WARN ? [`warning: other work took ${pct(s.othersShare)} of the CPUs during this run, so every column is skewed, and unevenly (the targets ran at different times)`] : []),
    `tools: ${versions.join('; ')}; absent: ${absent.length ? absent.join(', ') : 'none'}`,
    ...(!tools.wrk.path ? ['wrk absent: the request rows come from the Node load generator (bench/load.ts) against the Node request/response server, not comparable with wrk figures'] : []),
    ...(!tools.iperf3.path ? ['iperf3 absent: the bulk rows come from Node uploads (bench/load.ts), not comparable with iperf3 figures'] : []),
    ...unavailable.map(([k, why]) => `${k}: not measured: ${why}`),
    "PB/HAProxy, PB/nginx: Proto Balance's figure (affinity off) divided by the other proxy's; PB+aff/HAProxy, PB+aff/nginx: the same for Proto Balance with affinity on; above 1 is better for rates and throughput, worse for latency, CPU, memory and start-up time",
    wrk(s, plan),
    tools.iperf3.path
      ? `bulk: \`${iperfCommandLine(plan.bulkSeconds, 1)}\` and \`${iperfCommandLine(plan.bulkSeconds, 8)}\` against \`iperf3 -s\` (control connection through the proxy too); figure: end.sum_received.bits_per_second`
      : `bulk: Node uploads to the bench/backends.ts bulk sink for ${plan.bulkSeconds} s, 1 and 8 streams, bytes counted by the sink`,
    `backends, the same for every target: ${s.httpBackend === 'nginx' ? 'nginx HTTP (`worker_processes 2`, `access_log off`, `return 200 "<64 bytes>"`, `keepalive_requests 1000000000`)' : s.httpBackend === 'node' ? 'a Node HTTP server (bench/http-backend.ts, one process: nginx absent, so the backend may be the limit)' : 'the Node request/response server (bench/backends.ts)'} for requests, ${tools.iperf3.path ? '`iperf3 -s --forceflush`' : 'the Node bulk sink'} for bulk, the Node echo server (bench/backends.ts) for idle connections and start-up`,
    'Proto Balance: `node --no-node-snapshot bin/protobalance.js start --config <temp dir>/protobalance.config.ts`, one listener and one single-node round-robin cluster per backend (the sandboxed round robin), `log: { level: \'silent\' }`, `stateDir` in the temp dir (a fresh one for every start), all else default, so client affinity off',
    "Proto Balance (affinity on): the same command and config with `affinity: { enabled: true }` on every cluster (client affinity: the built-in `affinity` plugin; bindings in memory, written in batches every 250 ms to `<stateDir>/affinity.db`, SQLite in WAL mode, created empty at each start). Every load tool connects from 127.0.0.1, so each cluster holds one binding: after its first connection every connection finds it bound, its node is dialled without asking the round robin, and the binding's last-seen time is refreshed. The figures are the per-connection cost of looking up and refreshing a binding, not of a large table or of many clients",
    `${workersNote(s)}; process trees after start: ${shapes(f)}`,
    `HAProxy: ${HAPROXY_SETTINGS}; nginx: \`nginx -p <dir> -e <log> -c <conf>\`, \`load_module ngx_stream_module.so\`, \`worker_processes 2\`, \`daemon off\`, stream \`access_log off\`, one \`server { listen; proxy_pass; }\` per backend`,
    'order: one target at a time (direct, Proto Balance, Proto Balance with affinity on, HAProxy, nginx); per target: idle connections, a 1 s warm-up, keep-alive, new connections, bulk 1 then 8 streams; then the start-up runs with fresh processes',
    '¹ utime + stime (plus reaped children) from /proc/<pid>/stat of the target\'s root process and every descendant (ppid walk), over the phase, divided by the requests the load generator completed; direct column: the request backend\'s tree, for scale',
    `² RSS summed over the tree before and after opening ${s.idle.count.toLocaleString('en-US')} connections through it to the Node echo server (each proven by one echoed byte), divided by the count; closed right after; direct column: the echo server process. A Node proxy's figure includes heap not yet collected (no GC is forced)${s.idle.note ? `; ${s.idle.note}` : ''}`,
    `³ from spawn until a byte sent to the proxy's echo listener comes back from the backend (a connect is retried every 2 ms), ${plan.startRuns} fresh processes after that target's load phases`,
    ...errors,
    ...warnings,
  ];
}

function wrk(s: Setup, plan: Plan): string {
  if (!s.tools.wrk.path) return `requests: Node load generator, ${WRK_CONNECTIONS} keep-alive connections / 32 new-connection loops, ${plan.rateSeconds} s each, after a ${plan.warmSeconds} s warm-up`;
  return `requests: \`${wrkCommandLine(false, plan.rateSeconds)}\` and \`${wrkCommandLine(true, plan.rateSeconds)}\`, after a \`-d${plan.warmSeconds}s\` keep-alive warm-up`;
}

export function sideSection(f: Map<TargetKey, TargetFigures>, s: Setup, warnings: readonly string[]): string {
  const absent = new Set(Object.entries(s.missing).filter(([, why]) => why).map(([k]) => k as SideColumn));
  return [SIDE_HEADING, '', sideBySideTable(rows(f, s), absent), '', ...notes(f, s, warnings).map((n) => `- ${n}`)].join('\n');
}

