/**
 * examples/twin: two balancers (twin A on 127.0.0.11, twin B on 127.0.0.12) started from
 * the example's config, copied to a temporary folder, in front of the single-cluster
 * example's three nodes (127.0.0.2-4), sharing client affinity and node states through a
 * real redis-server. Clients are HTTP requests from distinct source addresses
 * (127.0.0.21…), a new connection each. The twins place clients alike, honour each other's
 * bindings, serve every client while Redis is down (and catch up once it is back), and
 * one serves the other's clients after it dies.
 * No redis-server installed: the test fails (RedisServer.start() throws), it never skips.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import clientHash from '../../plugins/balancers/client-hash.ts';
import { ROOT, runCli, startCli, watch, type Running } from '../helpers/cli.ts';
import { freePort, withTimeout } from '../helpers/net.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { nodeView } from '../helpers/views.ts';

const EXAMPLE = path.join(ROOT, 'examples', 'twin');
const NODE_SCRIPT = path.join(ROOT, 'examples', 'single-cluster', 'node.mjs');
const NODES = [
  { id: 'a', host: '127.0.0.2' },
  { id: 'b', host: '127.0.0.3' },
  { id: 'c', host: '127.0.0.4' },
];
const TWIN_HOST = { a: '127.0.0.11', b: '127.0.0.12' } as const;
type Twin = keyof typeof TWIN_HOST;
const SECRET = 'the twin scenario secret';
const TOKEN = 'twin-scenario-token';
/** Clients placed in the first step (and served by B after A dies in the last). */
const CLIENTS = Array.from({ length: 12 }, (_, i) => `127.0.0.${21 + i}`);
/** Clients of the load loop while Redis is killed and restarted. */
const LOOP_CLIENTS = ['127.0.0.41', '127.0.0.42', '127.0.0.43', '127.0.0.44'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where client-hash puts `address` (the algorithm itself, with the twins' secret): for picking never-seen clients. */
const hashOf = (() => {
  const chooser = clientHash.create({ cluster: 'web', hashSecret: SECRET });
  const views = NODES.map((n) => nodeView(n.id));
  return (address: string): string => chooser.pick(views, { address, port: 40000, listener: 'web' })!;
})();

function startNode(id: string, host: string, port: number): Running {
  return watch(spawn(process.execPath, [NODE_SCRIPT, id, host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The three nodes on one port free on all three addresses (a few ports tried). */
async function startNodes(): Promise<{ port: number; nodes: Running[] }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const nodes = NODES.map((n) => startNode(n.id, n.host, port));
    const up = await Promise.all(nodes.map((r) => r.waitForOutput('listening on', 10_000).then(() => true, () => false)));
    if (up.every(Boolean)) return { port, nodes };
    await stop(nodes, 'SIGKILL');
  }
  throw new Error('no port free on 127.0.0.2-4 for the nodes');
}

async function stop(runs: Running[], signal: NodeJS.Signals): Promise<void> {
  for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill(signal);
  await Promise.all(runs.map((r) => withTimeout(r.exited, 20_000, `pid ${r.child.pid} to exit`)));
}

/** The node that answered one request from `from` through `twin` (a new connection). */
function ask(twin: Twin, port: number, from: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: TWIN_HOST[twin], port, localAddress: from, path: '/', agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(/Hello from node (\w+)/.exec(body)?.[1] ?? `? ${body}`));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 5s (${from} through twin ${twin})`)));
    req.on('error', reject);
  });
}

interface NodeRow {
  key: string;
  state: string;
  loadFactor: number;
}
interface Status {
  clusters: { nodes: NodeRow[] }[];
  fleet?: { name: string; member: string; link: string; members: { member: string }[] };
}

const scenario = suite('examples/twin: two balancers share affinity and node states through Redis');

scenario('twins place alike, honour each other, ride out Redis down and a dead twin', async () => {
  const redis = await RedisServer.start();
  const store = redis.client();
  const twins: Running[] = [];
  const nodes: Running[] = [];
  const timings: string[] = [];
  try {
    const started = await startNodes();
    nodes.push(...started.nodes);
    const nodePort = started.port;
    const [port, adminA, adminB] = [await freePort(), await freePort(), await freePort()];
    const common = {
      PB_TWIN_REDIS: redis.url,
      PB_TWIN_PORT: String(port),
      PB_TWIN_NODE_PORT: String(nodePort),
      PB_TWIN_A_ADMIN_PORT: String(adminA),
      PB_TWIN_B_ADMIN_PORT: String(adminB),
      PB_HASH_SECRET: SECRET,
      PB_ADMIN_TOKEN: TOKEN,
      PB_ADMIN_HOST: '',
      PB_ADMIN_PORT: '',
    };
    const env = { a: { ...common, PB_TWIN: 'a' }, b: { ...common, PB_TWIN: 'b' } };
    const adminPort = { a: adminA, b: adminB };
    // One folder, as on one machine: each twin keeps its own stateDir (.protobalance-a, -b).
    const dir = tmpDir({ 'protobalance.config.ts': readFileSync(path.join(EXAMPLE, 'protobalance.config.ts'), 'utf8') });
    const A = startCli(['start'], env.a, dir);
    const B = startCli(['start'], env.b, dir);
    twins.push(A, B);
    await Promise.all([A, B].map((t) => t.waitForOutput('admin API on', 30_000)));
    if (availableParallelism() > 1) await Promise.all([A, B].map((t) => t.waitForOutput('processes serving', 30_000)));

    const cli = (twin: Twin, args: string[]) => runCli(args, env[twin], dir);
    const api = async (twin: Twin): Promise<Status> => {
      const res = await fetch(`http://127.0.0.1:${adminPort[twin]}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.is(res.status, 200, `status of twin ${twin}`);
      return (await res.json()) as Status;
    };
    const stateOf = (s: Status, node: string) => s.clusters[0]!.nodes.find((n) => n.key === `web/${node}`)!.state;
    /** Poll `twin`'s admin API until `check` holds; the ms it took. */
    const until = async (twin: Twin, check: (s: Status) => boolean, what: string, ms = 5_000): Promise<number> => {
      const t0 = Date.now();
      let last: Status | undefined;
      while (Date.now() - t0 < ms) {
        last = await api(twin);
        if (check(last)) return Date.now() - t0;
        await sleep(10);
      }
      throw new Error(`twin ${twin}: no ${what} within ${ms} ms: ${JSON.stringify(last?.clusters[0]?.nodes)} fleet ${JSON.stringify(last?.fleet)}`);
    };
    const setState = async (twin: Twin, node: string, state: string) => {
      const r = await cli(twin, ['node', `web/${node}`, state]);
      assert.is(r.code, 0, `node web/${node} ${state} through twin ${twin}: ${r.stderr}`);
    };

    // Both twins see each other in the fleet.
    const first = await until('a', (s) => s.fleet?.link === 'up' && s.fleet.members.length === 2, 'fleet of two members');
    timings.push(`fleet of two listed ${first} ms after start`);

    const bindingOf = (client: string) => store.get(`pb:aff:web:${client}`);
    /** Wait until Redis binds `client` to `node` (bindings are written in 50 ms batches). */
    const stored = async (client: string, node: string): Promise<void> => {
      for (let i = 0; i < 100 && (await bindingOf(client)) !== node; i++) await sleep(20);
      assert.is(await bindingOf(client), node, `pb:aff:web:${client} in Redis`);
      await sleep(30); // published with the write: the other twin's memory has it too
    };

    // 1. Both twins place every new client by the same keyed hash (client-hash, shared
    // secret), from the first connection on: a choice the sandboxed hash cannot make in
    // time is made by the same hash in the process (inProcessFallback), never by a rotation.
    for (const t of ['a', 'b'] as const) {
      const off: string[] = [];
      for (let i = 1; i <= 12; i++) {
        const c = `127.0.${t === 'a' ? 3 : 4}.${i}`;
        const got = await ask(t, port, c);
        if (got !== hashOf(c)) off.push(`${c}: ${got}, hash ${hashOf(c)}`);
      }
      assert.equal(off, [], `twin ${t} places new clients by the shared hash`);
    }
    // And the twins agree: each client lands on one node through A and through B.
    const placed = new Map<string, string>();
    const disagreements: string[] = [];
    let offHash = 0;
    for (const client of CLIENTS) {
      const a = await ask('a', port, client);
      await stored(client, a);
      const b = await ask('b', port, client);
      placed.set(client, a);
      if (a !== hashOf(client)) offHash++;
      if (a !== b) disagreements.push(`${client}: A ${a}, B ${b}, hash ${hashOf(client)}`);
    }
    assert.equal(disagreements, [], 'same node through both twins');
    assert.is(offHash, 0, 'every client where the hash says');
    assert.ok(new Set(placed.values()).size >= 2, `clients spread: ${[...placed.values()].join(' ')}`);

    // 2. A binding made through B is honoured through A, against the hash.
    const [x, n] = [...placed.entries()][0]!;
    let t0 = Date.now();
    await setState('a', n, 'yellow');
    const cliMs = Date.now() - t0;
    t0 = Date.now();
    const seenMs = await until('b', (s) => stateOf(s, n) === 'yellow', `web/${n} yellow`);
    timings.push(`yellow through A's CLI: ${cliMs} ms for the CLI, then ${seenMs} ms until B's status shows it`);
    const m = await ask('b', port, x);
    assert.is.not(m, n, `${x} through B leaves yellow ${n}`);
    // B wrote the moved binding to Redis, and told A.
    await stored(x, m);
    await setState('b', n, 'green');
    await until('a', (s) => stateOf(s, n) === 'green', `web/${n} green`);
    assert.is(await ask('a', port, x), m, `${x} through A keeps the binding B made (hash says ${n})`);
    const fresh = Array.from({ length: 200 }, (_, i) => `127.0.1.${i + 1}`).find((c) => hashOf(c) === n)!;
    assert.is(await ask('a', port, fresh), n, `a new client ${fresh} whose hash is ${n}`);
    placed.set(x, m);

    // 3. Redis killed and restarted under load: nobody fails; a change made meanwhile is shared after.
    const q = NODES.map((nd) => nd.id).find((id) => id !== n)!;
    const failures: string[] = [];
    let served = 0;
    const loopEnd = Date.now() + 3_500;
    const loops = LOOP_CLIENTS.map(async (client, i) => {
      for (let k = 0; Date.now() < loopEnd && k < 2_000; k++) {
        const twin: Twin = (k + i) % 2 === 0 ? 'a' : 'b';
        try {
          await ask(twin, port, client);
          served++;
        } catch (err) {
          failures.push(`${client} through ${twin}: ${(err as Error).message}`);
        }
      }
    });
    await sleep(500);
    await redis.kill();
    const killedAt = Date.now();
    await until('a', (s) => s.fleet?.link === 'down', 'fleet link down', 5_000);
    await setState('a', q, 'yellow');
    const downStatus = await cli('b', ['status']);
    assert.match(downStatus.stdout, /Redis down at/, downStatus.stdout);
    await sleep(Math.max(0, killedAt + 1_500 - Date.now()));
    await redis.restart();
    const restartedAt = Date.now();
    await Promise.all(loops);
    assert.equal(failures, [], `every request served while Redis was down (${served} served)`);
    assert.ok(served >= 20, `the load loop ran (${served} requests)`);

    for (const t of ['a', 'b'] as const) {
      let link = '';
      for (let i = 0; i < 20 && link !== 'up'; i++) {
        const r = await cli(t, ['status', '--json']);
        assert.is(r.code, 0, r.stderr);
        link = (JSON.parse(r.stdout) as Status).fleet?.link ?? '';
        if (link !== 'up') await sleep(250);
      }
      assert.is(link, 'up', `twin ${t}: fleet link up after Redis restarted`);
      timings.push(`twin ${t}: link up (status --json) ${Date.now() - restartedAt} ms after the restart`);
    }
    const fleetLog = (run: Running) => (run.stdout() + run.stderr()).split('\n').filter((l) => l.includes('fleet')).join('\n');
    const caughtUp = await until('b', (s) => stateOf(s, q) === 'yellow', `web/${q} yellow (set through A while Redis was down)`).catch((err: Error) => {
      throw new Error(`${err.message}\nA:\n${fleetLog(A)}\nB:\n${fleetLog(B)}`);
    });
    timings.push(`B took up A's outage change ${caughtUp} ms after both links were up`);
    for (const [twin, run] of [['a', A], ['b', B]] as const) {
      const out = run.stdout() + run.stderr();
      assert.match(out, /fleet: Redis unreachable/, `twin ${twin} logs the outage`);
      assert.match(out, /fleet: Redis reachable again/, `twin ${twin} logs the recovery`);
    }

    // 4. Twin A dies: its clients reach the same node through B.
    const throughA = new Map<string, string>();
    for (const client of CLIENTS) throughA.set(client, await ask('a', port, client));
    assert.is(throughA.get(x), m, `${x} still on the binding made through B`);
    await sleep(300); // a binding A moved just now (q is yellow) reaches Redis and B in 50 ms batches
    A.child.kill('SIGKILL');
    await withTimeout(A.exited, 10_000, 'twin A to die');
    const moved: string[] = [];
    for (const client of CLIENTS) {
      const b = await ask('b', port, client);
      if (b !== throughA.get(client)) moved.push(`${client}: A ${throughA.get(client)}, B ${b}`);
    }
    assert.equal(moved, [], 'the clients of the dead twin keep their nodes through the other');
  } finally {
    store.disconnect();
    const [A, B] = twins;
    if (A) await stop([A], 'SIGKILL');
    if (B && B.child.exitCode === null && B.child.signalCode === null) B.child.kill('SIGTERM');
    const finished = B ? await withTimeout(B.exited, 30_000, 'twin B to exit on SIGTERM').catch((err: Error) => (B.child.kill('SIGKILL'), err)) : undefined;
    await stop(nodes, 'SIGKILL');
    await redis.kill();
    if (timings.length > 0) process.stdout.write(`\n  twin timings: ${timings.join('; ')}\n`);
    if (finished instanceof Error) throw finished;
    if (finished) assert.is(finished.code, 0, `twin B exits cleanly on SIGTERM: ${finished.stderr}`);
  }
});

scenario.run();
