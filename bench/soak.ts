/**
 * Churn soak of the balancer's process group: `npm run soak` (10 minutes),
 * `npm run soak -- --quick` (1 minute) or `--minutes=N`; `--concurrency=N` (default 32),
 * `--long=N` long-lived connections (default 48).
 *
 * Starts the echo backends and the balancer (a ProcessGroup, primary + 1 worker) as child
 * processes, then runs connection churn through it, beside a pool of long-lived
 * connections that Red nodes kill, while node states flip every 15 s and the config
 * reloads every 30 s. Every 10 s it prints the group's memory and open fds; the quiet
 * levels it compares are taken after a full GC in every process.
 * The question it answers: after a long run of churn, does the group come back to the
 * level it had settled at, or does something grow (a leak of memory, sockets, timers)?
 * Writes the answer to bench/SOAK.md (keeping the hand-written notes at its end). Loopback only; a watchdog ends it all at
 * duration + 2 minutes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { NodeStatus } from '../core/status.ts';
import type { NodeState } from '../core/types.ts';
import type { ProcessResources } from '../core/workers/protocol.ts';
import { Load, RedLog } from './soak-load.ts';
import { killAllChildren, SoakChild, type ReloadReply } from './soak-protocol.ts';
import { headlineTable, passed, renderReport, type Quiet } from './soak-report.ts';
import { describeSocket, heldSockets } from './soak-sockets.ts';
import { describeSample, meanOf, sampleOf, type Sample } from './soak-sample.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = args.includes('--quick');
const durationSec = Math.round(60 * (quick ? 1 : Number(flag('minutes') ?? 10)));
const concurrency = Number(flag('concurrency') ?? 32);
const longCount = Number(flag('long') ?? 48);
if (!(durationSec >= 30) || !(concurrency >= 1) || !(Number.isInteger(longCount) && longCount >= 0)) {
  process.stderr.write('soak: --minutes must be at least 0.5, --concurrency at least 1, --long a whole number\n');
  process.exit(2);
}
// The settled level is taken once start-up effects are over: at minute 2 of a long run,
// early in a short one (a smoke test of the soak itself).
const settledAt = durationSec >= 300 ? 120 : 10;
const QUIET_WAIT_MS = 5_000;
const QUIET_SAMPLES = 3;
const STATE_EVERY = 15;
const RELOAD_EVERY = 30;
const SAMPLE_EVERY = 10;
const STATES: NodeState[] = ['yellow', 'red', 'green'];

const wallStart = performance.now();
const revision = gitRevision();
const tmp = mkdtempSync(path.join(tmpdir(), 'pb-soak-'));
const cleanup = (): void => {
  killAllChildren();
  rmSync(tmp, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`soak: ${signal}, stopping\n`);
    process.exit(130);
  });
}
// Bounded: whatever hangs, the run and every child end at duration + 2 minutes.
setTimeout(() => {
  process.stderr.write('soak: watchdog fired (duration + 2 min); killing everything\n');
  process.exit(3);
}, (durationSec + 120) * 1000).unref();

const backends = await SoakChild.start('backends', new URL('./soak-backends.ts', import.meta.url), []);
const balancer = await SoakChild.start('balancer', new URL('./soak-balancer.ts', import.meta.url), [`--dir=${tmp}`, `--backends=${backends.ports.join(',')}`], {
  pipeStderr: true,
  readyMs: 60_000,
});
const logTally = tallyLog(balancer);
const port = balancer.ports[0]!;
console.log(`soak: ${durationSec} s of churn, ${concurrency} loops + ${longCount} long-lived → 127.0.0.1:${port} → backends ${backends.ports.join(', ')}; settled level at t=${settledAt} s`);

// Names for the ports a leftover socket may show (see soak-sockets.ts).
const portNames = new Map<number, string>([[port, `listener :${port}`], ...backends.ports.map((p, i): [number, string] => [p, `n${i + 1} :${p}`])]);
const red = new RedLog();
const load = new Load(port, concurrency, red, longCount);
const churn = { flips: 0, reds: 0, reloads: 0, edits: 0, reloadMs: [] as number[], controlErrors: [] as string[] };
const lines: string[] = [];
/** The 10 s samples taken under load, for the trend. */
const loaded: Sample[] = [];
const pids = new Set<number>();
let pausedMs = 0;
// The rate on each line is over seconds of load since the previous line (quiet windows excluded).
let lastConnections = 0;
let lastLineAt = 0;

/** With `gc`, every process of the group runs a full GC first (the quiet samples); under load, not. */
async function resources(at: number, gc = false): Promise<Sample> {
  const procs = await balancer.ask<ProcessResources[]>({ op: 'resources', gc });
  for (const p of procs) pids.add(p.pid);
  return sampleOf(at, procs);
}

/** Run a control command; a failure is recorded (it is a finding), not fatal. */
async function control(what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    churn.controlErrors.push(message);
    process.stderr.write(`soak: ${message}\n`);
  }
}

/** Step k of the state cycle: nodes in turn, each green → yellow → red → green. */
function flipState(step: number): Promise<void> {
  const node = Math.floor(step / STATES.length) % 3;
  const state = STATES[step % STATES.length]!;
  if (state === 'red') churn.reds++;
  const key = `c/n${node + 1}`;
  return control(`state ${key} ${state}`, async () => {
    // Red: from just before the command until its answer + slack, connections to the node may
    // die; out of Red: once the command is answered, the node is no longer Red.
    const done = state === 'red' ? red.begin(node + 1) : () => red.left(node + 1);
    try {
      await balancer.ask({ op: 'state', key, state });
      churn.flips++;
    } finally {
      done();
    }
  });
}

function reload(edit: boolean): Promise<void> {
  return control(`reload${edit ? ' (edited)' : ''}`, async () => {
    const r = await balancer.ask<ReloadReply>({ op: 'reload', edit });
    churn.reloads++;
    if (edit) churn.edits++;
    churn.reloadMs.push(r.ms);
  });
}

function printLine(at: number, sample: Sample, quietNote?: string): void {
  const c = load.counts;
  let rate = 'quiet';
  if (quietNote === undefined) {
    rate = `${((c.connections - lastConnections) / Math.max(1, at - lastLineAt)).toFixed(0)}/s`;
    lastConnections = c.connections;
    lastLineAt = at;
    loaded.push(sample);
  }
  const line = `[${String(at).padStart(4)} s] ${String(c.connections).padStart(8)} conns (${rate.padStart(7)}) red-killed ${c.killedByRed} unexpected ${c.unexpected} | ${describeSample(sample)}${quietNote ?? ''}`;
  lines.push(line);
  console.log(line);
}

/**
 * Pause the load (unless it is over: then it has stopped already), wait, average a few
 * samples taken after a full GC: a level not skewed by connections in flight (the
 * long-lived ones are closed gracefully by the pause) nor by garbage not yet collected.
 */
async function quiet(at: number, resume: boolean): Promise<Quiet> {
  const began = performance.now();
  if (resume) await load.pause();
  await sleep(QUIET_WAIT_MS);
  const samples: Sample[] = [];
  for (let i = 0; i < QUIET_SAMPLES; i++) {
    if (i > 0) await sleep(1_000);
    samples.push(await resources(at, true));
  }
  const status = await balancer.ask<NodeStatus[]>({ op: 'status' });
  const mean = meanOf(samples);
  const sockets = mean.procs.flatMap((p, i) =>
    heldSockets(p.pid).map((h) => `${i === 0 ? 'primary' : `worker ${i}`} (pid ${p.pid}): ${describeSocket(h, portNames)}`),
  );
  for (const line of sockets) console.log(`  socket still held: ${line}`);
  printLine(at, mean, `  (quiet level: mean of ${QUIET_SAMPLES})`);
  lastConnections = load.counts.connections;
  lastLineAt = at;
  if (resume) load.unpause();
  pausedMs += performance.now() - began;
  return { mean, samples, status, sockets };
}

// The clock counts seconds of load: quiet windows and slow commands do not eat into it.
load.start();
const loadStart = performance.now();
let settled: Quiet | undefined;
for (let t = 1; t <= durationSec; t++) {
  const due = loadStart + pausedMs + t * 1000;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  if (t % STATE_EVERY === 0) await flipState(t / STATE_EVERY - 1);
  if (t % RELOAD_EVERY === 0) await reload((t / RELOAD_EVERY) % 2 === 0);
  if (t === settledAt) settled = await quiet(t, true);
  else if (t % SAMPLE_EVERY === 0) await control('resources', async () => printLine(t, await resources(t)));
}
await load.stop();
const final = await quiet(durationSec, false);
if (!settled) throw new Error('no settled sample was taken');

const backendAccepts = await backends.ask<number[]>({ op: 'counts' });
await balancer.ask({ op: 'stop' }, 20_000).catch((err: unknown) => churn.controlErrors.push(`stop: ${String(err)}`));
await balancer.waitExit(10_000);

const shown = args.length > 0 ? ` -- ${args.join(' ')}` : '';
const input = {
  date: new Date(),
  command: `npm run soak${shown}`,
  revision,
  durationSec,
  wallSec: (performance.now() - wallStart) / 1000,
  concurrency,
  longCount,
  settledAt,
  settled,
  final,
  counts: load.counts,
  unexpectedSamples: load.unexpectedSamples,
  backendAccepts,
  churn,
  logTally,
  pidsSeen: [...pids],
  lines,
  loaded,
};
const report = fileURLToPath(new URL('./SOAK.md', import.meta.url));
writeFileSync(report, `# Soak\n\nWritten by \`npm run soak\` (bench/soak.ts); each run overwrites it, up to the hand-written notes at the end.\n\n${renderReport(input)}${handWritten(report)}`);
console.log(`\n${headlineTable(input)}\n`);
const c = load.counts;
console.log(
  `connections ${c.connections} + long-lived ${c.long.opened} (${c.long.exchanges} echoes), unexpected errors ${c.unexpected}, killed by red ${c.killedByRed} (long-lived ${c.long.killedByRed}), control errors ${churn.controlErrors.length}`,
);
console.log(`report: ${path.relative(process.cwd(), report)}`);
const ok = passed(input) && c.unexpected === 0 && churn.controlErrors.length === 0;
console.log(`soak: ${ok ? 'PASS' : 'FAIL'}`);
process.exit(ok ? 0 : 1);

/** The hand-written part at the end of the report (from its first `## Notes` heading on), kept across runs. */
function handWritten(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const at = text.search(/^## Notes/m);
  return at < 0 ? '' : `\n${text.slice(at)}`;
}

/** The commit under test, and whether core/ or plugins/ had uncommitted edits when it started. */
function gitRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'core', 'plugins'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted edits in core/ or plugins/` : head;
  } catch {
    return 'unknown (no git)';
  }
}

/** Count the balancer's log lines by level and message; echo the first few as they come. */
function tallyLog(child: SoakChild): Map<string, number> {
  const tally = new Map<string, number>();
  const stream = child.stderr;
  if (!stream) return tally;
  const levels: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  let echoed = 0;
  createInterface({ input: stream }).on('line', (line) => {
    let key: string;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      key = `${levels[entry.level ?? 0] ?? entry.level}: ${entry.msg ?? '(no msg)'}`;
    } catch {
      key = `text: ${line.slice(0, 120)}`;
    }
    tally.set(key, (tally.get(key) ?? 0) + 1);
    if (echoed++ < 20) process.stderr.write(`[balancer] ${line}\n`);
  });
  return tally;
}
