/**
 * Running out of file descriptors never kills the balancer (issue 12, item 1). The CLI
 * runs under `ulimit -n 256` (soft and hard: nothing can raise it), in one process and in
 * two, on both data paths, and is flooded with far more concurrent clients than that
 * allows. Then, once those clients have left, 100 of 100 new clients must be served, by
 * the same processes: the primary has the same pid, and no worker was lost or replaced.
 *
 * Each case runs at 256 and at 257: a proxied connection takes two descriptors, so the
 * parity of what is free decides whether the last one goes to an accept (libuv then sheds
 * the queued clients itself, silently) or to the dial after it (EMFILE in our hands).
 *
 * Also checked: the start line reports the limit and what it allows; a soft limit below
 * the hard one is raised to it; a worker that dies while the primary has no descriptor
 * left is forked again, with backoff, once there are.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../helpers/cli.ts';
import { addr, closeServer, freePort, startEchoServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const LIMITS = [256, 257];
const FLOOD = 700;
const AFTER = 100;
const BIN = path.join(ROOT, 'bin/protobalance.js');

interface Run {
  pid: number;
  out: () => string;
  err: () => string;
  alive: () => boolean;
  waitFor(text: string, ms: number): Promise<void>;
  stop(): Promise<number | null>;
}

/** `protobalance start` in `dir` under `ulimit` (a shell sets it, then execs node: same pid). */
function startUnder(ulimit: string, dir: string, env: Record<string, string> = {}): Run {
  const child = spawn('sh', ['-c', `ulimit ${ulimit} && exec "$0" "$@"`, process.execPath, '--no-node-snapshot', BIN, 'start'], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exited = false;
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const gone = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exited = true), resolve(code))));
  return {
    pid: child.pid!,
    out: () => out,
    err: () => err,
    alive: () => !exited,
    async waitFor(text, ms) {
      const deadline = Date.now() + ms;
      while (!out.includes(text)) {
        if (exited || Date.now() > deadline) throw new Error(`no "${text}"; stdout: ${out}\nstderr: ${err.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await gone;
      clearTimeout(timer);
      return code;
    },
  };
}

function config(port: number, node: string, workers: number): Record<string, string> {
  return {
    'protobalance.config.ts': `export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'echo', address: '${node}' }] } },
  workers: ${workers}, watch: false, admin: false, log: { level: 'warn' }, drainTimeout: '1s',
};\n`,
  };
}

/** The pids of a process's worker processes (children running a worker entry; not esbuild's service). */
function childrenOf(pid: number): number[] {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const children = read(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/).filter(Boolean).map(Number);
  return children.filter((child) => /worker/.test(read(`/proc/${child}/cmdline`))).sort();
}

/**
 * Hold `count` clients open at once for `holdMs`: each connects and sends a line; then all
 * leave. Outcomes do not matter here (most cannot be served); the process must live.
 */
async function flood(port: number, count: number, holdMs: number): Promise<void> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    s.on('connect', () => s.write(`flood ${i}\n`));
    s.resume();
    sockets.push(s);
  }
  await new Promise((r) => setTimeout(r, holdMs));
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
}

/** One client: connect, send a line, read it back (within `ms`); true when echoed whole. */
function served(port: number, i: number, ms = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const line = `client ${i} ${'x'.repeat(100)}\n`;
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    s.on('error', () => done(false));
    s.on('close', () => done(got === line));
    s.on('connect', () => s.write(line));
    s.on('data', (c) => {
      got += c;
      if (got.length >= line.length) done(got === line);
    });
  });
}

/** `count` new clients, 10 at a time; how many were served. */
async function serveMany(port: number, count: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, j) => served(port, i + j)));
    ok += batch.filter(Boolean).length;
  }
  return ok;
}

const fd = suite('fd limit: running out of file descriptors never kills the process');

const CASES = (['fast', 'net'] as const).flatMap((dataPath) =>
  [1, 2].flatMap((workers) => LIMITS.map((limit) => ({ dataPath, workers, limit }))),
);

for (const { dataPath, workers, limit } of CASES) {
  const name = `${workers} process${workers > 1 ? 'es' : ''}, ${dataPath} data path, ulimit -n ${limit}`;
  fd(`${name}: ${FLOOD} clients at once, then ${AFTER} of ${AFTER} new ones served by the same processes`, async () => {
    const echo = await startEchoServer();
    const port = await freePort();
    const dir = tmpDir(config(port, addr(echo), workers));
    const run = startUnder(`-n ${limit}`, dir, { PROTOBALANCE_DATAPATH: dataPath });
    try {
      await run.waitFor(workers > 1 ? 'processes serving' : 'accepting connections', 40_000);
      assert.match(run.out(), `fd limit ${limit} (about `);
      const before = childrenOf(run.pid);
      assert.is(before.length, workers - 1, `workers at start: ${before.join(', ')}`);
      assert.is(await serveMany(port, 10), 10, 'served before the flood');

      const floodStart = Date.now();
      await withTimeout(flood(port, FLOOD, 1500), 20_000, 'the flood');
      const ok = await withTimeout(serveMany(port, AFTER), 60_000, 'the clients after the flood');
      const seconds = (Date.now() - floodStart) / 1000;

      const log = run.err();
      assert.ok(run.alive(), `the balancer exited; stderr: ${log.slice(-3000)}`);
      assert.is(ok, AFTER, `served after the flood; stderr: ${log.slice(-3000)}`);
      assert.equal(childrenOf(run.pid), before, 'the same workers serve');
      assert.not.match(log, /worker exited|uncaught exception|did not start|cannot fork/);
      assert.not.match(log, /node unavailable/, 'a local EMFILE is not the node failing');
      // The shortage is logged at most once a second per process.
      const shortLines = log.split('\n').filter((l) => l.includes('short of a local resource')).length;
      assert.ok(shortLines <= workers * (Math.ceil(seconds) + 1), `${shortLines} lines about the shortage in ${seconds} s`);
      assert.is(await run.stop(), 0, 'a clean exit after SIGTERM');
    } finally {
      await run.stop();
      await closeServer(echo);
    }
  });
}

fd('a soft limit below the hard one is raised to it, and the start line says so', async () => {
  const echo = await startEchoServer();
  const dir = tmpDir(config(await freePort(), addr(echo), 1));
  const run = startUnder(`-Sn 256 && ulimit -Hn 4096`, dir);
  try {
    await run.waitFor('accepting connections', 40_000);
    assert.match(run.out(), /fd limit 4096 \(about \d+ proxied connections per process\)/);
  } finally {
    await run.stop();
    await closeServer(echo);
  }
});

/**
 * A worker dies while the primary has no descriptor left: the fork fails (EMFILE) and is
 * retried with the backoff (250 ms, 500 ms, 1 s…) until a worker is back. Run in a child
 * process that holds every descriptor it can, then lets them go.
 */
const RESPAWN = `
import { closeSync, openSync } from 'node:fs';
import { loadConfig } from ${JSON.stringify(path.join(ROOT, 'core/config-load.ts'))};
import { ProcessGroup } from ${JSON.stringify(path.join(ROOT, 'core/workers/group.ts'))};
import { recordingLogger } from ${JSON.stringify(path.join(ROOT, 'test/helpers/balancer.ts'))};
import { withBuiltins } from ${JSON.stringify(path.join(ROOT, 'test/helpers/assembly.ts'))};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logger = recordingLogger();
const group = new ProcessGroup({ config: await loadConfig(process.argv[2]), logger, ...withBuiltins() });
await group.start();
await group.workersReady;
const [before] = group.workerPids();
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
process.kill(before, 'SIGKILL');
await sleep(1600);
const servingWhileShort = group.serving;
for (const fd of held) closeSync(fd);
const deadline = Date.now() + 20000;
while (group.serving < 2 && Date.now() < deadline) await sleep(50);
const [after] = group.workerPids();
const forkFailures = logger.lines.filter((l) => l.msg === 'cannot fork a worker').map((l) => [String(l.fields.err), l.fields.respawnInMs]);
process.stdout.write(JSON.stringify({ before, after, servingWhileShort, serving: group.serving, forkFailures }));
await group.stop(0);
process.exit(0);
`;

fd('a fork that fails for want of descriptors is retried with backoff until the worker is back', async () => {
  const echo = await startEchoServer();
  const dir = tmpDir({ ...config(await freePort(), addr(echo), 2), 'respawn.mts': RESPAWN });
  try {
    const child = spawn(
      'sh',
      ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, '--no-node-snapshot', '--import', 'tsx', path.join(dir, 'respawn.mts'), path.join(dir, 'protobalance.config.ts')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    const code = await withTimeout(new Promise((r) => child.on('exit', r)), 40_000, 'the respawn script');
    assert.is(code, 0, err);
    const r = JSON.parse(out) as { before: number; after: number; servingWhileShort: number; serving: number; forkFailures: [string, number][] };
    assert.is(r.servingWhileShort, 1, 'no worker while the primary has no descriptor');
    assert.ok(r.forkFailures.length >= 2, `fork failures logged: ${JSON.stringify(r.forkFailures)}`);
    assert.match(r.forkFailures[0]![0], 'EMFILE');
    assert.equal(r.forkFailures.slice(0, 2).map((f) => f[1]), [500, 1000], 'the backoff grows (250 ms went to the exit)');
    assert.is(r.serving, 2, 'the worker is back');
    assert.ok(r.after !== undefined && r.after !== r.before, 'a new worker');
  } finally {
    await closeServer(echo);
  }
});

fd.run();
