/**
 * The plugins part of `npm run bench` (alone: `npm run bench -- --only=plugins`): new
 * connections per second through Proto Balance with each built-in plugin's fields set
 * (bench/plugin-cost-configs.ts), as a ratio to the same balancer without them, measured in
 * the same run; with the balancer's CPU per connection, also as a ratio.
 *
 * One balancer process per configuration (`protobalance start`, `workers: 1`), all started
 * first and kept (an idle one costs nothing); the two nodes in one child process
 * (bench/plugin-cost-backend.ts), the load in another (bench/plugin-cost-load.ts). In each
 * round every configuration runs between two baseline phases (B A B C B …), the order of the
 * others alternating (forward, backward, forward…): a configuration's paired ratio is its
 * rate over the mean of the two baseline phases beside it, a few seconds apart, which other
 * work starting or stopping on the machine moves much less than a ratio of medians taken
 * over the whole part. Both are given; each figure is the median over the rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { startChild, type Child } from './children.ts';
import { PLUGIN_CONFIGS, type PluginConfig } from './plugin-cost-configs.ts';
import { phase, startBalancer, type PhasePlan, type PhaseResult, type RunningBalancer } from './plugin-cost-phase.ts';
import { fmt } from './report.ts';
import { reason, ROOT } from './scale-proc.ts';
import { REQUEST_SIZE, RESPONSE_SIZE } from './protocol.ts';

export const PLUGINS_HEADING = '## Plugins: connection-rate cost when enabled';

/** `firstMs`: an uncounted phase per configuration before the rounds (its JIT, and the load's). */
const PLAN = {
  quick: { rounds: 1, firstMs: 300, warmupMs: 200, durationMs: 600 },
  default: { rounds: 3, firstMs: 600, warmupMs: 300, durationMs: 1_200 },
};
const CONCURRENCY = 32;
const MAX_OPS = 1_000_000;
/** Above this 1-minute load average before the part, or this share of the CPUs taken by other work during it, the section warns. */
const BUSY_LOAD = 1.5;
const BUSY_SHARE = 0.1;
/**
 * Worst case (bench/run.ts's watchdog): every start at its 30 s limit is far past it, but a
 * normal run takes 9 starts of under a second, 9 first phases of 0.9 s and 3 × 17 of 1.5 s.
 */
export const PLUGINS_WATCHDOG_MS = 240_000;

const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
};

/** The commit measured (PB_BENCH_COMMIT for a tree exported from git), and whether the code under test was edited since. */
function measuredCommit(): string {
  if (process.env.PB_BENCH_COMMIT) return `${process.env.PB_BENCH_COMMIT} (PB_BENCH_COMMIT: a tree exported from that commit)`;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
  try {
    const edited = git('status', '--porcelain', '--', 'core', 'plugins', 'app', 'bin', 'scripts');
    return `${git('rev-parse', '--short', 'HEAD')}${edited ? ' (with uncommitted changes in core, plugins, app, bin or scripts)' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

interface Measured {
  config: PluginConfig;
  rounds: PhaseResult[];
  /** Per round: rate, and balancer CPU per connection, over the mean of the baseline phases just before and after. */
  paired: number[];
  pairedCpu: number[];
}

function table(measured: readonly Measured[], baselineRate: number | undefined, baselineCpu: number | undefined): string {
  const lines = [
    '| configuration | fields | new connections/s (median) | ratio to baseline (median / median) | paired ratio to baseline (median, lowest-highest) | balancer CPU per connection (µs, median) | CPU ratio to baseline (median / median) | paired CPU ratio (median) | failed connections | connections/s per phase |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(3) : '—');
  for (const m of measured) {
    const rates = m.rounds.map((r) => r.perSecond);
    const rate = median(rates);
    const cpu = median(m.rounds.map((r) => r.cpuPerConn));
    const baseline = m.config.key === 'baseline';
    const paired = baseline ? '1 (the reference)' : m.paired.length ? `${median(m.paired)!.toFixed(3)} (${Math.min(...m.paired).toFixed(2)}-${Math.max(...m.paired).toFixed(2)})` : '—';
    const pairedCpu = baseline ? '1' : m.pairedCpu.length ? median(m.pairedCpu)!.toFixed(3) : '—';
    const phases = !rates.length ? 'failed' : baseline ? `${rates.length} phases, ${fmt(Math.min(...rates))}-${fmt(Math.max(...rates))}` : rates.map((x) => fmt(x)).join(', ');
    const failed = m.rounds.length ? String(m.rounds.reduce((n, r) => n + r.errors, 0)) : '—';
    lines.push(`| ${m.config.label} | ${m.config.fields} | ${fmt(rate)} | ${ratio(rate, baselineRate)} | ${paired} | ${fmt(cpu)} | ${ratio(cpu, baselineCpu)} | ${pairedCpu} | ${failed} | ${phases} |`);
  }
  return lines.join('\n');
}

/** What looks wrong in the figures: failed connections, headers the nodes did not get, a busy machine. */
function checks(measured: readonly Measured[], loadBefore: number, othersShare: number): string[] {
  const out: string[] = [];
  for (const m of measured) {
    for (const [i, r] of m.rounds.entries()) {
      const at = `${m.config.label}, measured phase ${i + 1}`;
      if (r.errors > 0) out.push(`warning: ${at}: ${r.errors} connections failed (the first: ${r.firstError}); with the limits' fields, a refusal shows here`);
      const expected = r.ops + r.warmupOps;
      if (m.config.nodesReadHeader && r.headers < expected) out.push(`warning: ${at}: the nodes read ${r.headers} PROXY headers for ${expected} connections`);
      if (!m.config.nodesReadHeader && r.headers > 0) out.push(`warning: ${at}: the nodes read ${r.headers} PROXY headers, none expected`);
      if (m.config.nodesReadHeader && m.config.header !== 'none' && r.fromTenNet < r.headers) out.push(`warning: ${at}: ${r.headers - r.fromTenNet} headers to the nodes did not name the client of the header in front`);
      if (r.badHeaders > 0) out.push(`warning: ${at}: the nodes could not read ${r.badHeaders} headers`);
      if (r.extraProcesses.length > 0) out.push(`warning: ${at}: the balancer had other processes under it (${r.extraProcesses.join(', ')}), their CPU counted with its own`);
    }
  }
  if (loadBefore > BUSY_LOAD) out.push(`warning: the 1-minute load average was ${loadBefore.toFixed(2)} before the part (other work on the ${availableParallelism()} CPUs): every figure is skewed, the ratios less than the rates`);
  if (othersShare > BUSY_SHARE) out.push(`warning: other work took ${(othersShare * 100).toFixed(0)}% of the machine's CPU during the measured windows: the figures are skewed`);
  return out;
}

export async function pluginCostSection(options: { quick: boolean; log: (line: string) => void }): Promise<{ section: string; warnings: string[]; seconds: number }> {
  const started = performance.now();
  const { log } = options;
  const plan = PLAN[options.quick ? 'quick' : 'default'];
  const phasePlan: PhasePlan = { concurrency: CONCURRENCY, warmupMs: plan.warmupMs, durationMs: plan.durationMs, maxOps: MAX_OPS };
  const loadBefore = loadavg()[0] ?? 0;
  const commit = measuredCommit();
  log(`Plugins part${options.quick ? ' (--quick)' : ''}: commit ${commit}; load average ${loadBefore.toFixed(2)}`);
  const warnings: string[] = [];
  const root = await mkdtemp(path.join(tmpdir(), 'pb-bench-plugins-'));
  const env = { PROTOBALANCE_CACHE_DIR: path.join(root, 'cache') };
  const measured: Measured[] = PLUGIN_CONFIGS.map((config) => ({ config, rounds: [], paired: [], pairedCpu: [] }));
  const balancers: RunningBalancer[] = [];
  let backend: Child | undefined;
  let load: Child | undefined;
  let others = 0;
  let windows = 0;
  try {
    backend = await startChild('plugin-nodes', new URL('./plugin-cost-backend.ts', import.meta.url), []);
    load = await startChild('plugin-load', new URL('./plugin-cost-load.ts', import.meta.url), []);
    const nodes = [`127.0.0.1:${backend.ports.n1}`, `127.0.0.1:${backend.ports.n2}`];
    for (const c of PLUGIN_CONFIGS) {
      const b = await startBalancer(c, root, nodes, env);
      balancers.push(b);
      log(`  ${c.label}: accepting ${b.startMs.toFixed(0)} ms after spawn, port ${b.port}`);
    }
    // Every process's first connections (their JIT) in no configuration's figures.
    for (const b of balancers) {
      const warm = await phase(b, load, backend, { ...phasePlan, durationMs: plan.firstMs });
      log(`  first phase (not counted), ${b.config.label}: ${Math.round(warm.perSecond)}/s`);
    }
    const [reference, ...compared] = balancers;
    if (reference?.config.key !== 'baseline') throw new Error('the first configuration must be the baseline');
    const measure = async (b: RunningBalancer, round: number): Promise<PhaseResult> => {
      const r = await phase(b, load!, backend!, phasePlan);
      measured.find((m) => m.config === b.config)!.rounds.push(r);
      others += r.othersMicros;
      windows += r.windowMicros;
      log(
        `  round ${round + 1}, ${b.config.label}: ${Math.round(r.perSecond)}/s, balancer ${r.cpuPerConn.toFixed(1)} µs CPU/connection (${(r.cpuCores * 100).toFixed(0)}% of a core), ` +
          `median ${r.medianMs.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors} failed, headers at the nodes ${r.headers}, other work ${((100 * r.othersMicros) / (r.windowMicros * availableParallelism())).toFixed(0)}% of the CPUs`,
      );
      return r;
    };
    for (let round = 0; round < plan.rounds; round++) {
      let before = await measure(reference, round);
      for (const b of round % 2 === 0 ? compared : [...compared].reverse()) {
        const r = await measure(b, round);
        const after = await measure(reference, round);
        const m = measured.find((x) => x.config === b.config)!;
        m.paired.push(r.perSecond / ((before.perSecond + after.perSecond) / 2));
        m.pairedCpu.push(r.cpuPerConn / ((before.cpuPerConn + after.cpuPerConn) / 2));
        before = after;
      }
    }
  } catch (err) {
    warnings.push(`warning: plugins part stopped early: ${reason(err, 300)}`);
    log(`  plugins part: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await Promise.all(balancers.map((b) => b.proc.stop()));
    await Promise.all([backend?.stop(), load?.stop()]);
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
  }

  const seconds = (performance.now() - started) / 1000;
  const othersShare = windows > 0 ? Math.max(0, others / (windows * availableParallelism())) : 0;
  const base = measured.find((m) => m.config.key === 'baseline')!;
  const baseRate = median(base.rounds.map((r) => r.perSecond));
  const baseCpu = median(base.rounds.map((r) => r.cpuPerConn));
  const notes = checks(measured, loadBefore, othersShare);
  const section = [
    PLUGINS_HEADING,
    '',
    `- date: ${new Date().toISOString()}; commit measured: ${commit}; node ${process.version}; mode: ${options.quick ? '--quick' : 'default'}; part took ${seconds.toFixed(0)} s; ` +
      `1-minute load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after; other work took ${(othersShare * 100).toFixed(1)}% of the ${availableParallelism()} CPUs during the measured windows`,
    '',
    table(measured, baseRate, baseCpu),
    '',
    ...[
      `how: one \`node --no-node-snapshot bin/protobalance.js start --config <temp>/protobalance.config.ts\` per configuration (the prebuilt bundle, as installed), all started first and kept running; each has one listener on 127.0.0.1 and one round-robin cluster of two nodes, \`workers: 1\` (one process, so no figure depends on how the kernel spreads connections over processes), \`admin: false\`, log level silent, state and bundle cache in a temp folder; the configurations differ only in the fields named`,
      `load: a Node child process of its own (not the balancer's event loop, not the bench's), ${CONCURRENCY} loops of connect, ${REQUEST_SIZE} B request, ${RESPONSE_SIZE} B answer, close; with \`acceptProxyProtocol\` each connection first writes a PROXY header (v1 \`PROXY TCP4 10.1.b.a 127.0.0.1 <port> <port>\\r\\n\` or the 28-byte v2 equivalent) in the same write as its request, naming one of 1,024 client addresses in turn, as a balancer in front would; the same generator and request for every configuration`,
      `nodes: two Node TCP servers in one child process answering ${RESPONSE_SIZE} B per ${REQUEST_SIZE} B request (the client closes); a connection that starts with a PROXY header has it read and dropped with the plugin's own \`parseProxyHeader\`, and the headers are counted, so the part checks the nodes got one per connection with \`proxyProtocol\` (naming the client of the header in front, with both) and none without`,
      `phases: first one per configuration not counted (${plan.warmupMs + plan.firstMs} ms: every process's JIT); then ${plan.rounds} round(s), in each every configuration between two baseline phases (baseline, A, baseline, B, baseline, …), the others' order forward, backward, forward…; each phase ${plan.warmupMs} ms warm-up and ${plan.durationMs / 1000} s measured, the loops running on across the two; figures are medians over the rounds (the baseline's over all its phases); "ratio to baseline" is a configuration's median over the baseline's median; "paired ratio" is, per round, its figure over the mean of the two baseline phases beside it, a few seconds apart: other work on the machine starting or stopping mid-part moves it much less, so it is the figure to read when the two differ; the twin (the baseline's config in a second process, measured as the others are) shows what position and noise alone make of a configuration that costs nothing: read the others against it`,
      'balancer CPU: utime + stime from /proc/<pid>/stat of the balancer process (its tree, which is that one process) over the measured window, divided by the connections completed in it',
      'failed connections: connects refused, closed before the answer or without one in 5 s, warm-up included; the connection limits are set so high (10,000 per node and listener, 65,535 per client per second) that none should refuse, and a refusal closes the client before its answer, so a refusal would show here; slow start: the nodes are there from the start and stay up, so none ramps: the figure is the cost of having it on (it taps no per-connection hook, so its distance from 1 is mostly the noise of the run)',
      'all on 127.0.0.1; load, nodes and balancer share the machine\'s CPUs, so a configuration whose balancer takes more CPU per connection also leaves less to the load and the nodes',
      ...notes,
    ].map((n) => `- ${n}`),
  ].join('\n');
  return { section, warnings, seconds };
}
