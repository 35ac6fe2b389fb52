/**
 * `npm run bench [-- --quick]`: Proto Balance against its backends, direct and through the
 * balancer, in one run on 127.0.0.1. Backends and the balancer each run in their own child
 * process; this process is the load generator. Also in the same run: the selection cost of
 * each built-in algorithm, sandboxed and in-process (bench/selection.ts), and the connection
 * rate of the sandboxed round robin against the same balancer running its algorithm in
 * process (bench/compare.ts). Then, side by side, the same kind of load through Proto
 * Balance (client affinity off, then on), HAProxy and nginx with wrk and iperf3
 * (bench/side-by-side.ts). Before that, client affinity's cost per connection with its Redis
 * store against its SQLite store (bench/affinity-stores.ts). Prints markdown
 * tables and writes them, with the date, Node version and machine, to bench/RESULTS.md.
 *
 * `--only=side-by-side` runs just that last part and replaces just its section of
 * bench/RESULTS.md (the section carries its own date); `--only=affinity` the same for the
 * affinity stores' part, `--only=fleet` for the fleet's (bench/fleet-latency.ts: a node state
 * change from one balancer of a fleet in force on another), `--only=scale` for the scale section's
 * (bench/scale.ts: check, start, reload and RSS at 1, 50 and 500 clusters; pick cost at 4, 100
 * and 5,000 nodes; cold and warm start), `--only=plugins` for the plugins' (bench/plugin-cost.ts:
 * new connections per second with each built-in plugin's fields set, as a ratio to the same
 * balancer without them). `--workers=N|auto` passes `workers` into
 * the side-by-side Proto Balance config, once the core has that field.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freshBundle } from '../bin/fresh-bundle.js';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { startChild, killAll, type Child } from './children.ts';
import { AFFINITY_HEADING, AFFINITY_WATCHDOG_MS, affinitySection } from './affinity-stores.ts';
import { FLEET_HEADING, fleetSection } from './fleet-latency.ts';
import { PLUGINS_HEADING, PLUGINS_WATCHDOG_MS, pluginCostSection } from './plugin-cost.ts';
import { killScale, SCALE_HEADING, SCALE_WATCHDOG_MS, scaleSection } from './scale.ts';
import { compareRunners, type Comparison } from './compare.ts';
import { killExternal } from './external.ts';
import { bulkDownload, bulkUpload, closeAll, keepAlive, newConnections, openIdle, type RateOptions, type RateResult } from './load.ts';
import { REQUEST_SIZE, RESPONSE_SIZE } from './protocol.ts';
import { fmt, machine, replaceSection, runnerTable, selectionTable, table, writeResults, type PairRow, type Row, type SelectionTableRow } from './report.ts';
import { builtinAlgorithms, selectionCost } from './selection.ts';
import { SIDE_PLAN, sideBySide, type SideResult } from './side-by-side.ts';
import { SIDE_HEADING } from './side-section.ts';
import { bareNodeStartup, balancerStartup } from './startup.ts';

const quick = process.argv.includes('--quick');

// The product as installed runs the prebuilt bundle (npm install builds it). In a checkout
// with edits since the last build the bin would fall back to the sources, and the start-up
// and CPU figures would be those of the TypeScript loader: rebuild first.
if (!freshBundle(new URL('../', import.meta.url))) {
  process.stderr.write('bench: dist/ is older than the sources; npm run build first\n');
  const built = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build.mjs', import.meta.url))], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(1);
}
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
if (only !== undefined && only !== 'side-by-side' && only !== 'affinity' && only !== 'fleet' && only !== 'scale' && only !== 'plugins') {
  process.stderr.write(`bench: --only=${only}: the parts that run alone are side-by-side, affinity, fleet, scale and plugins\n`);
  process.exit(2);
}
const workersArg = process.argv.find((a) => a.startsWith('--workers='))?.slice('--workers='.length);
const workers = workersArg === undefined || workersArg === 'auto' ? workersArg : Number(workersArg);
if (typeof workers === 'number' && !(Number.isInteger(workers) && workers > 0)) {
  process.stderr.write(`bench: --workers=${workersArg}: expected 'auto' or a positive integer\n`);
  process.exit(2);
}
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const P = quick
  ? { phaseMs: 1_000, warmupMs: 200, bulkBytes: 256 * MiB, bulkMs: 1_000, idle: 500, startupRuns: 3, random: false, watchdogMs: 60_000 }
  : { phaseMs: 4_000, warmupMs: 500, bulkBytes: 1 * GiB, bulkMs: 3_000, idle: 2_000, startupRuns: 3, random: true, watchdogMs: 180_000 };
/** Selection cost: picks per cell, at most `budgetMs` each (after a warm-up of a tenth of that). */
const SEL = quick ? { maxPicks: 10_000, budgetMs: 100 } : { maxPicks: 50_000, budgetMs: 1_000 };
const SEL_NODES = [4, 16] as const;
/** Sandboxed against in-process: alternating rounds of the new-connections phase, per cluster size. */
const CMP = quick ? { rounds: 1, roundMs: 1_000, sizes: [1] } : { rounds: 4, roundMs: 1_250, sizes: [1, 4] };
const TARGET_RATIO = 0.9;
const NEW_CONN_LOOPS = 32;
const KEEPALIVE_CONNS = 64;
const MAX_OPS = 2_000_000;

const runStarted = performance.now();
const loadBefore = loadavg()[0] ?? 0;
const log = (line: string) => process.stderr.write(`${line}\n`);
const killEverything = () => {
  killAll();
  killExternal();
  killScale();
};
process.on('exit', killEverything);
// A signal would end this process without 'exit': HAProxy, nginx and iperf3 would outlive it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`bench: ${signal}: stopping every child`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}
const sideWatchdogMs = SIDE_PLAN[quick ? 'quick' : 'default'].watchdogMs;
const watchdogMs =
  only === 'affinity' || only === 'fleet'
    ? AFFINITY_WATCHDOG_MS
    : only === 'scale'
      ? SCALE_WATCHDOG_MS
      : only === 'plugins'
        ? PLUGINS_WATCHDOG_MS
        : only
          ? sideWatchdogMs
          : P.watchdogMs + AFFINITY_WATCHDOG_MS + sideWatchdogMs + SCALE_WATCHDOG_MS + PLUGINS_WATCHDOG_MS;
const watchdog = setTimeout(() => {
  log(`bench: still running after ${watchdogMs / 1000} s; giving up`);
  killEverything();
  process.exit(1);
}, watchdogMs);

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, cmd)));
}

interface Target {
  label: string;
  /** The process whose CPU time and memory are counted for this target. */
  proc: Child;
  ports: Record<string, number>;
}

/** Run `work` and return its result with `proc`'s CPU time spent meanwhile (µs). */
async function withCpu<T>(proc: Child, work: () => Promise<T>): Promise<{ result: T; cpuMicros: number }> {
  const before = await proc.stats();
  const result = await work();
  const after = await proc.stats();
  return { result, cpuMicros: after.cpuMicros - before.cpuMicros };
}

function port(t: Target, name: string): number {
  const p = t.ports[name];
  if (p === undefined) throw new Error(`${t.label}: no ${name} port`);
  return p;
}

function describeRate(what: string, t: Target, r: RateResult, cpuMicros: number): void {
  log(
    `  ${what} ${t.label}: ${Math.round(r.perSecond)}/s, p99 ${r.p99Ms.toFixed(2)} ms, ${r.ops} ops in ${r.seconds.toFixed(1)} s, ` +
      `${r.errors} errors, ${t.proc.name} CPU ${(cpuMicros / Math.max(1, r.ops)).toFixed(1)} µs/op`,
  );
}

async function rate(
  what: string,
  t: Target,
  fn: (port: number, o: RateOptions) => Promise<RateResult>,
  service: string,
  concurrency: number,
): Promise<{ r: RateResult; cpuPerOp: number }> {
  const warm = await fn(port(t, service), { concurrency, durationMs: P.warmupMs, maxOps: MAX_OPS });
  if (warm.ops === 0) throw new Error(`no answer during the warm-up (${warm.errors} errors)`);
  const { result: r, cpuMicros } = await withCpu(t.proc, () =>
    fn(port(t, service), { concurrency, durationMs: P.phaseMs, maxOps: MAX_OPS }),
  );
  describeRate(what, t, r, cpuMicros);
  return { r, cpuPerOp: cpuMicros / Math.max(1, r.ops) };
}

async function bulk(t: Target): Promise<{ up: number; down: number; cpuMsPerGiB: number }> {
  const { result, cpuMicros } = await withCpu(t.proc, async () => ({
    up: await bulkUpload(port(t, 'bulk'), P.bulkBytes, P.bulkMs),
    down: await bulkDownload(port(t, 'bulk'), P.bulkBytes, P.bulkMs),
  }));
  const bytes = result.up.bytes + result.down.bytes;
  const cpuMsPerGiB = cpuMicros / 1000 / (bytes / GiB);
  log(
    `  bulk ${t.label}: up ${result.up.gbitPerSecond.toFixed(2)} Gbit/s (${(result.up.bytes / MiB).toFixed(0)} MiB), ` +
      `down ${result.down.gbitPerSecond.toFixed(2)} Gbit/s (${(result.down.bytes / MiB).toFixed(0)} MiB), ${t.proc.name} CPU ${cpuMsPerGiB.toFixed(0)} ms/GiB`,
  );
  return { up: result.up.gbitPerSecond, down: result.down.gbitPerSecond, cpuMsPerGiB };
}

async function idle(t: Target): Promise<number> {
  await closeAll(await openIdle(port(t, 'echo'), 100)); // first-use allocations out of the way
  const before = await t.proc.stats(true);
  const sockets = await openIdle(port(t, 'echo'), P.idle);
  await new Promise((r) => setTimeout(r, 300));
  const after = await t.proc.stats(true);
  await closeAll(sockets);
  const kib = (after.rss - before.rss) / 1024 / sockets.length;
  log(`  ${sockets.length} idle connections ${t.label}: ${t.proc.name} RSS +${((after.rss - before.rss) / MiB).toFixed(1)} MiB, ${kib.toFixed(1)} KiB each`);
  return kib;
}

const warnings: string[] = [];

/** Run one phase; a failure becomes a warning and an empty cell, not the end of the run. */
async function attempt<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`  ${what}: FAILED: ${message}`);
    warnings.push(`warning: ${what} failed: ${message}`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const tools = ['wrk', 'iperf3'].map((t) => `${t} ${onPath(t) ? 'installed (not used)' : 'not installed'}`).join(', ');
  log(`Proto Balance benchmark${quick ? ' (--quick)' : ''}: node ${process.version}, ${machine()}`);
  log(`load generator: Node (this process); ${tools}; load average ${loadBefore.toFixed(2)}`);

  const backends = await startChild('backends', new URL('./backends.ts', import.meta.url), []);
  const nodes = ['echo', 'reqres', 'bulk'].map((name) => `${name}=127.0.0.1:${backends.ports[name]}`);
  const rr = await startChild('balancer', new URL('./balancer-process.ts', import.meta.url), ['round-robin', ...nodes]);
  const direct: Target = { label: 'direct', proc: backends, ports: backends.ports };
  const through: Target = { label: 'balancer', proc: rr, ports: rr.ports };
  const rssBackends = (await backends.stats(true)).rss;
  const rssBalancer = (await rr.stats(true)).rss;
  log(`  RSS at rest: backends ${(rssBackends / MiB).toFixed(1)} MiB, balancer ${(rssBalancer / MiB).toFixed(1)} MiB`);
  // Idle connections first, while the heaps are still small and steady (bulk churn makes RSS noisy).
  const idleD = await attempt('idle connections direct', () => idle(direct));
  const idleB = await attempt('idle connections balancer', () => idle(through));

  const ncD = await attempt('new connections direct', () => rate('new connections', direct, newConnections, 'reqres', NEW_CONN_LOOPS));
  const ncB = await attempt('new connections balancer', () => rate('new connections', through, newConnections, 'reqres', NEW_CONN_LOOPS));
  let ncR: Awaited<ReturnType<typeof rate>> | undefined;
  if (P.random) {
    const random = await startChild('balancer-random', new URL('./balancer-process.ts', import.meta.url), ['random', ...nodes]);
    const target: Target = { label: 'balancer (random)', proc: random, ports: random.ports };
    ncR = await attempt('new connections balancer (random)', () => rate('new connections', target, newConnections, 'reqres', NEW_CONN_LOOPS));
    await random.stop();
  }
  const kaD = await attempt('keep-alive direct', () => rate('keep-alive', direct, keepAlive, 'reqres', KEEPALIVE_CONNS));
  const kaB = await attempt('keep-alive balancer', () => rate('keep-alive', through, keepAlive, 'reqres', KEEPALIVE_CONNS));
  const bulkD = await attempt('bulk direct', () => bulk(direct));
  const bulkB = await attempt('bulk balancer', () => bulk(through));
  await rr.stop();

  // Two fresh balancers, the same config, differing only in where the algorithm runs.
  const reqres = `127.0.0.1:${backends.ports.reqres}`;
  const cmpTargets = CMP.sizes.map((n) => `reqres${n}=${Array.from({ length: n }, () => reqres).join(',')}`);
  const comparisons = new Map<number, Comparison | undefined>();
  await attempt('sandboxed vs in-process round robin', async () => {
    const [sandboxed, inProcess] = await Promise.all([
      startChild('balancer-sandboxed', new URL('./balancer-process.ts', import.meta.url), ['--time-picks', 'round-robin', ...cmpTargets]),
      startChild('balancer-in-process', new URL('./balancer-process.ts', import.meta.url), ['--time-picks', '--in-process', 'round-robin', ...cmpTargets]),
    ]);
    try {
      for (const n of CMP.sizes) {
        const c = await attempt(`new connections sandboxed vs in-process (${n}-node cluster)`, () =>
          compareRunners(
            sandboxed,
            inProcess,
            { service: `reqres${n}`, concurrency: NEW_CONN_LOOPS, rounds: CMP.rounds, roundMs: CMP.roundMs, warmupMs: P.warmupMs, maxOps: MAX_OPS },
            log,
          ),
        );
        comparisons.set(n, c);
        if (c) log(`  ${n}-node cluster: sandboxed ${Math.round(c.sandboxed.perSecond)}/s, in-process ${Math.round(c.inProcess.perSecond)}/s, ratio ${(c.sandboxed.perSecond / c.inProcess.perSecond).toFixed(3)}`);
      }
    } finally {
      await Promise.all([sandboxed.stop(), inProcess.stop()]);
    }
  });

  const echoAddress = `127.0.0.1:${backends.ports.echo}`;
  const startBare = await attempt('start-up bare Node', () => bareNodeStartup(P.startupRuns));
  const startPb = await attempt('start-up protobalance', () => balancerStartup(echoAddress, P.startupRuns));
  log(
    `  start-up (median of ${P.startupRuns}): bare Node server ${startBare?.spawnToLineMs.toFixed(0)} ms, ` +
      `protobalance start ${startPb?.spawnToLineMs.toFixed(0)} ms (it says ${startPb?.selfReportedMs} ms)`,
  );
  await backends.stop();

  // Selection cost last, in this process, with nothing else of the benchmark running.
  const selRows: SelectionTableRow[] = [];
  const algorithms = await attempt('list of built-in algorithms', () => builtinAlgorithms());
  for (const a of algorithms?.found ?? []) {
    const measured = await attempt(`selection cost ${a.name}`, () => selectionCost(a, SEL_NODES, SEL.maxPicks, SEL.budgetMs));
    for (const [i, nodes] of SEL_NODES.entries()) {
      const r = measured?.[i];
      selRows.push({ algorithm: a.name, nodes, batchable: r?.batchable, inProcess: r?.inProcess, sandboxed: r?.sandboxed });
      if (r) {
        log(
          `  selection ${a.name}, ${nodes} nodes${r.batchable ? ' (batchable)' : ''}: in-process ${r.inProcess.microsPerPick.toFixed(3)} µs/pick (${r.inProcess.picks} picks), ` +
            `sandboxed ${r.sandboxed.microsPerPick.toFixed(3)} µs/pick (${r.sandboxed.picks} picks)`,
        );
      }
    }
  }

  log('');
  const affinity = await affinitySection({ quick, log });
  const fleet = await fleetSection({ log });
  log('');
  const scale = await scaleSection({ quick, log });
  log('');
  const plugins = await pluginCostSection({ quick, log });
  const side = await runSide();

  const rows: Row[] = [
    { figure: `new connections/s (${NEW_CONN_LOOPS} loops: connect, ${REQUEST_SIZE} B request, ${RESPONSE_SIZE} B answer, close)`, direct: ncD?.r.perSecond, balancer: ncB?.r.perSecond },
    { figure: 'new connection p99 latency (ms)', direct: ncD?.r.p99Ms, balancer: ncB?.r.p99Ms },
    ...(P.random
      ? [
          { figure: "new connections/s, balance: 'random'", direct: ncD?.r.perSecond, balancer: ncR?.r.perSecond },
          { figure: "new connection p99 latency (ms), balance: 'random'", direct: ncD?.r.p99Ms, balancer: ncR?.r.p99Ms },
        ]
      : []),
    { figure: `keep-alive requests/s (${KEEPALIVE_CONNS} connections)`, direct: kaD?.r.perSecond, balancer: kaB?.r.perSecond },
    { figure: 'keep-alive p99 latency (ms)', direct: kaD?.r.p99Ms, balancer: kaB?.r.p99Ms },
    { figure: 'bulk upload, 1 stream (Gbit/s)', direct: bulkD?.up, balancer: bulkB?.up },
    { figure: 'bulk download, 1 stream (Gbit/s)', direct: bulkD?.down, balancer: bulkB?.down },
    { figure: 'CPU per new connection (µs) ¹', direct: ncD?.cpuPerOp, balancer: ncB?.cpuPerOp },
    { figure: 'CPU per keep-alive request (µs) ¹', direct: kaD?.cpuPerOp, balancer: kaB?.cpuPerOp },
    { figure: 'CPU per GiB of bulk, up + down (ms) ¹', direct: bulkD?.cpuMsPerGiB, balancer: bulkB?.cpuMsPerGiB },
    { figure: 'RSS at rest (MiB) ¹', direct: rssBackends / MiB, balancer: rssBalancer / MiB },
    { figure: `RSS per idle connection (KiB, ${P.idle} open) ¹`, direct: idleD, balancer: idleB },
    { figure: `start-up, spawn to "accepting connections" (ms, median of ${P.startupRuns}) ²`, direct: startBare?.spawnToLineMs, balancer: startPb?.spawnToLineMs },
    { figure: `start-up as printed, "ms after process start" (median of ${P.startupRuns}) ²`, direct: startBare?.selfReportedMs, balancer: startPb?.selfReportedMs },
  ];
  const tableText = table(rows);
  const seconds = (performance.now() - runStarted) / 1000;
  const notes = [
    `mode: ${quick ? '--quick' : 'default'}; rate phases ${P.phaseMs / 1000} s each after a ${P.warmupMs} ms warm-up; bulk up to ${P.bulkBytes / MiB} MiB or ${P.bulkMs / 1000} s per direction; run took ${seconds.toFixed(1)} s`,
    'all on 127.0.0.1; load generator, backends and balancer in three separate Node processes; balancer: createBalancer, one listener and one single-node cluster per backend, round-robin unless noted, log silent',
    `load generator: Node; ${tools}; 1-minute load average before the run ${loadBefore.toFixed(2)} (other work on the machine skews every figure)`,
    '¹ direct column: the backends process (echo, request/response and bulk servers); balancer column: the balancer process',
    '² direct column: a bare Node TCP server (`node --no-node-snapshot -e`); balancer column: `node --no-node-snapshot bin/protobalance.js start --config <temp .ts>`',
    ...warnings,
  ];
  for (const [what, d, b] of [
    ['new connections/s', ncD, ncB],
    ['keep-alive requests/s', kaD, kaB],
  ] as const) {
    if (!d || !b) continue;
    const ratio = b.r.perSecond / d.r.perSecond;
    if (!(ratio >= 0.1 && ratio <= 1.0)) notes.push(`warning: ${what} ratio ${ratio.toFixed(2)} is outside 0.1-1.0`);
    if (d.r.errors + b.r.errors > 0) notes.push(`warning: ${what}: ${d.r.errors} errors direct, ${b.r.errors} through the balancer`);
  }
  const selectionSection = [
    '## Selection cost per pick: sandboxed vs in-process',
    '',
    selectionTable(selRows),
    '',
    ...[
      `µs per \`Chooser.pick\` over ${SEL_NODES.join(' and ')} plain NodeView candidates (load factors 1-3, assorted counters), the client varied over 1,024 IPv4 and IPv6 addresses; up to ${SEL.maxPicks.toLocaleString('en-US')} picks or ${SEL.budgetMs / 1000} s per cell after a warm-up; run in the load generator process after every other phase`,
      'sandboxed: `createSandboxRunner({ cpuTimeout: 50, memoryLimit: 32, baseDir: <repo root> })`, each crossing copies the candidates in and the answer out; in-process: `createInProcessRunner()`; only `pick` is timed, not the guard around it in the core',
      `batchable: the module's \`batchable\` flag at the time of the run; for "yes" the sandbox hands back 64 picks per crossing while the candidates stay the same, so its figure is the cost per pick averaged over batches, as measured`,
      'algorithms: those plugins/balancers/index.ts registers at the time of the run; `policy` is min-load.ts with policies/least-load.ts; client-hash with a hashSecret',
      ...(algorithms && algorithms.missing.length > 0 ? [`registered but without a module file, so not measured: ${algorithms.missing.join(', ')}`] : []),
    ].map((n) => `- ${n}`),
  ].join('\n');

  const pairRows: PairRow[] = [];
  const verdicts: string[] = [];
  for (const n of CMP.sizes) {
    const c = comparisons.get(n);
    const label = `${n}-node cluster${n === 1 ? ', as in the table above' : ''}`;
    pairRows.push(
      { figure: `new connections/s, ${label} (${NEW_CONN_LOOPS} loops: connect, ${REQUEST_SIZE} B request, ${RESPONSE_SIZE} B answer, close)`, inProcess: c?.inProcess.perSecond, sandboxed: c?.sandboxed.perSecond },
      { figure: `new connection p99 latency (ms, mean of rounds), ${n}-node cluster`, inProcess: c?.inProcess.p99Ms, sandboxed: c?.sandboxed.p99Ms },
      { figure: `balancer CPU per new connection (µs), ${n}-node cluster`, inProcess: c?.inProcess.cpuPerOp, sandboxed: c?.sandboxed.cpuPerOp },
      { figure: `wall time in \`Chooser.pick\` per connection, in the balancer under load (µs), ${n}-node cluster`, inProcess: c?.inProcess.pickMicros, sandboxed: c?.sandboxed.pickMicros },
    );
    if (!c) {
      verdicts.push(`${n}-node cluster: not measured (the phase failed), so no verdict on the ${TARGET_RATIO.toFixed(2)} target`);
      continue;
    }
    const ratio = c.sandboxed.perSecond / c.inProcess.perSecond;
    // Each round measures the two variants back to back: its ratio is the least drift-prone.
    const pairs = c.sandboxed.rounds.map((x, i) => x / (c.inProcess.rounds[i] ?? Number.NaN));
    const perRound = `rounds (connections/s): sandboxed ${c.sandboxed.rounds.map((x) => fmt(x)).join(', ')}; in-process ${c.inProcess.rounds.map((x) => fmt(x)).join(', ')}; ratio per round ${pairs.map((x) => x.toFixed(2)).join(', ')}`;
    const verdict =
      ratio >= TARGET_RATIO
        ? `target met: sandboxed / in-process = ${ratio.toFixed(3)} ≥ ${TARGET_RATIO.toFixed(2)} (${ratio < 1 ? `the sandbox costs ${((1 - ratio) * 100).toFixed(1)}% of the connection rate` : 'no cost measurable: the sandboxed balancer was not slower in this run'})`
        : `TARGET NOT MET: sandboxed / in-process = ${ratio.toFixed(3)}, below ${TARGET_RATIO.toFixed(2)} (the sandbox costs ${((1 - ratio) * 100).toFixed(1)}% of the connection rate)`;
    const above = pairs.filter((x) => x >= TARGET_RATIO).length;
    const firm =
      pairs.length < 2
        ? '; one round per variant, so no measure of the noise'
        : above === 0 || above === pairs.length
          ? `; every round's ratio is ${above === 0 ? 'below' : 'at or above'} ${TARGET_RATIO.toFixed(2)}`
          : `; ${above} of ${pairs.length} rounds at or above ${TARGET_RATIO.toFixed(2)}, so the verdict is not firm`;
    verdicts.push(`${n}-node cluster: ${verdict}; ${perRound}${firm}`);
    if (c.sandboxed.errors + c.inProcess.errors > 0) verdicts.push(`warning: ${n}-node cluster: ${c.sandboxed.errors} errors sandboxed, ${c.inProcess.errors} in-process`);
    log(`  ${n}-node cluster: ${verdict}`);
  }
  const runnerSection = [
    '## Connection rate: sandboxed vs in-process round robin',
    '',
    runnerTable(pairRows),
    '',
    ...[
      ...verdicts,
      `two fresh balancer processes, the same config (one listener per cluster size, round-robin, log silent), one with the sandbox runner made as the core makes its default (\`createSandboxRunner({ ...config.sandbox, baseDir })\`, default limits), one with \`createInProcessRunner()\`; in both the chooser is wrapped to time each pick (two performance.now() calls; wall time, so a pick preempted on the shared CPUs counts whole); the new-connections phase of the table above against each, ${CMP.rounds} round(s) of ${CMP.roundMs / 1000} s per variant after a ${P.warmupMs} ms warm-up, alternating which goes first; figures are totals over the rounds`,
      'the nodes of a cluster all point at the same request/response backend; every connection makes one pick',
    ].map((n) => `- ${n}`),
  ].join('\n');

  // The scale section's failures (a step past its limit at 500 clusters) are figures of its own, not failed phases.
  const body = [tableText, selectionSection, runnerSection, affinity.section, fleet.section, scale.section, plugins.section, side.section].join('\n\n');
  process.stdout.write(`\n${tableText}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n${selectionSection}\n\n${runnerSection}\n\n${affinity.section}\n\n${fleet.section}\n\n${scale.section}\n\n${plugins.section}\n\n${side.section}\n`);
  warnings.push(...affinity.warnings, ...plugins.warnings, ...side.warnings);
  if (warnings.length > 0) {
    log(`\n${warnings.length} phase(s) failed: bench/RESULTS.md left as it was; run took ${seconds.toFixed(1)} s`);
    process.exitCode = 1;
    return;
  }
  await writeResults(new URL('./RESULTS.md', import.meta.url), body, notes);
  log(`\nwrote bench/RESULTS.md; run took ${seconds.toFixed(1)} s`);
}

/** The side-by-side part: after everything else, so its external processes disturb nothing. */
function runSide(): Promise<SideResult> {
  log('');
  return sideBySide({ quick, workers, log });
}

/**
 * `--only=<part>`: that part alone; its section of bench/RESULTS.md is replaced, the rest
 * kept, unless a phase failed (then the file is left as it was and the exit code says so).
 */
async function partOnly(title: string, heading: string, run: () => Promise<{ section: string; warnings?: string[]; seconds?: number }>): Promise<void> {
  log(`Proto Balance benchmark, ${title} only${quick ? ' (--quick)' : ''}: node ${process.version}, ${machine()}`);
  const started = performance.now();
  const part = await run();
  const took = `took ${(part.seconds ?? (performance.now() - started) / 1000).toFixed(1)} s`;
  process.stdout.write(`\n${part.section}\n`);
  const warnings = part.warnings ?? [];
  if (warnings.length > 0) {
    log(`\n${warnings.length} phase(s) failed: bench/RESULTS.md left as it was; ${took}`);
    process.exitCode = 1;
    return;
  }
  await replaceSection(new URL('./RESULTS.md', import.meta.url), heading, part.section);
  log(`\nreplaced the ${title} section of bench/RESULTS.md; ${took}`);
}

/**
 * `--only=scale`: the scale section alone; its section of bench/RESULTS.md is replaced, the
 * rest kept. A step that failed at scale is a figure of the section (listed under "Failed or
 * odd at scale"), so the section is written all the same; the exit code says so.
 */
async function mainScaleOnly(): Promise<void> {
  log(`Proto Balance benchmark, scale only${quick ? ' (--quick)' : ''}: node ${process.version}, ${machine()}`);
  const scale = await scaleSection({ quick, log });
  process.stdout.write(`\n${scale.section}\n`);
  await replaceSection(new URL('./RESULTS.md', import.meta.url), SCALE_HEADING, scale.section);
  log(`\nreplaced the scale section of bench/RESULTS.md; took ${scale.seconds.toFixed(1)} s${scale.failures.length ? `; ${scale.failures.length} step(s) failed, listed in the section` : ''}`);
  if (scale.failures.length > 0) process.exitCode = 1;
}

(only === 'scale'
  ? mainScaleOnly()
  : only === 'fleet'
    ? partOnly('fleet', FLEET_HEADING, () => fleetSection({ log }))
    : only === 'affinity'
      ? partOnly('affinity stores', AFFINITY_HEADING, () => affinitySection({ quick, log }))
      : only === 'plugins'
        ? partOnly('plugins', PLUGINS_HEADING, () => pluginCostSection({ quick, log }))
        : only
          ? partOnly('side by side', SIDE_HEADING, runSide)
          : main()
).then(
  () => {
    clearTimeout(watchdog);
    process.exit(process.exitCode ?? 0);
  },
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killEverything();
    process.exit(1);
  },
);
