/**
 * `npm run bench:control`: what changing a running balancer costs, and what its clients see.
 * A group of one process per CPU forwards a loop of clients (8 at a time, each a new
 * connection sending a line and reading it back) while, through the admin API and the
 * config file, we:
 * - switch the listener between two clusters (controller deployment) 20 times,
 * - set a node's load factor 20 times,
 * - add and remove a node 10 times each,
 * - reload the file with a listener added, then removed, 5 times each.
 * Prints each change's time to answer (every process has it) and the clients served and
 * failed meanwhile, against a quiet stretch of the same loop before. Figures, not a test.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminServer } from '../core/admin/server.ts';
import { adminToken } from '../core/admin/token.ts';
import { loadConfig } from '../core/config-load.ts';
import { silentLogger } from '../core/logger.ts';
import { watchConfig, type ReloadOutcome } from '../core/watch.ts';
import { ProcessGroup } from '../core/workers/group.ts';
import { builtinPlugins, workerEntry, affinityLookup } from '../app/builtins.ts';

const HOST = '127.0.0.1';
const PARALLEL = 8;

function named(name: string): Promise<Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write(`${name}:`);
    s.pipe(s);
  });
  return new Promise((r) => server.listen(0, HOST, () => r(server)));
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = portOf(s);
  await new Promise((r) => s.close(r));
  return port;
}

function ask(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port });
    let got = '';
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.end(text);
  });
}

/** The client loop: counts served and failed clients until stopped (bounded by time). */
function loop(port: number, maxMs: number) {
  const counts = { served: 0, failed: 0, errors: new Map<string, number>() };
  let stop = false;
  const until = Date.now() + maxMs;
  let n = 0;
  const one = async () => {
    while (!stop && Date.now() < until) {
      const text = `c${n++}`;
      try {
        const reply = await ask(port, text);
        if (reply.endsWith(`:${text}`)) counts.served++;
        else throw new Error('wrong answer');
      } catch (err) {
        counts.failed++;
        const m = (err as Error).message;
        counts.errors.set(m, (counts.errors.get(m) ?? 0) + 1);
      }
    }
  };
  const running = Promise.all(Array.from({ length: PARALLEL }, one));
  return {
    counts,
    async end() {
      stop = true;
      await running;
    },
  };
}

const ms = (t0: number) => performance.now() - t0;
function summary(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `n=${s.length}  median ${q(0.5)} ms  p95 ${q(0.95)} ms  max ${s[s.length - 1]!.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const one = await named('A');
  const two = await named('B');
  const extra = await named('X');
  const [front, second, adminPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-bench-control-'));
  const file = path.join(dir, 'protobalance.config.ts');
  const text = (withSecond: boolean) => `export default {
  listeners: [{ name: 'front', port: ${front}, host: '${HOST}', cluster: 'one' }${withSecond ? `, { name: 'second', port: ${second}, host: '${HOST}', cluster: 'two' }` : ''}],
  clusters: {
    one: { nodes: [{ id: 'a', address: '${HOST}:${portOf(one)}' }] },
    two: { nodes: [{ id: 'b', address: '${HOST}:${portOf(two)}' }] },
  },
  stateDir: './state', log: { level: 'silent' },
};\n`;
  writeFileSync(file, text(false));
  const config = await loadConfig(file);
  const group = new ProcessGroup({ config, logger: silentLogger, workerEntry, balancer: { builtins: builtinPlugins() } });
  await group.start();
  await group.workersReady;
  const outcomes: ReloadOutcome[] = [];
  const watcher = watchConfig(group, { logger: silentLogger, debounceMs: 20, onReload: (o) => void outcomes.push(o) });
  await watcher.ready;
  const token = adminToken(undefined, config.stateDir);
  const admin = new AdminServer({ group, token, logger: silentLogger, affinity: affinityLookup, reload: (r) => watcher.reload(r) });
  await admin.listen(HOST, adminPort);
  const api = async (method: string, route: string, body?: unknown): Promise<number> => {
    const t0 = performance.now();
    const res = await fetch(`http://${HOST}:${adminPort}/api${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status}`);
    return ms(t0);
  };

  console.log(`# Control-plane changes under load (${group.size} processes, ${PARALLEL} clients at a time)\n`);
  const quietMs = 3000;
  const quiet = loop(front, quietMs + 1000);
  await new Promise((r) => setTimeout(r, quietMs));
  await quiet.end();
  const quietRate = quiet.counts.served / (quietMs / 1000);

  const busy = loop(front, 120_000);
  const t0 = performance.now();
  const times: Record<string, number[]> = { route: [], factor: [], add: [], remove: [], 'file reload (listener added/removed)': [] };
  for (let i = 0; i < 20; i++) times.route!.push(await api('PUT', '/listeners/front/cluster', { cluster: i % 2 === 0 ? 'two' : 'one' }));
  for (let i = 0; i < 20; i++) times.factor!.push(await api('PUT', '/nodes/one/a/factor', { factor: 1 + (i % 4) }));
  for (let i = 0; i < 10; i++) {
    times.add!.push(await api('POST', '/clusters/one/nodes', { id: 'x', address: `${HOST}:${portOf(extra)}` }));
    times.remove!.push(await api('DELETE', '/nodes/one/x'));
  }
  for (let i = 0; i < 10; i++) {
    const from = outcomes.length;
    const t1 = performance.now();
    writeFileSync(file, text(i % 2 === 0));
    while (outcomes.length === from) await new Promise((r) => setTimeout(r, 2));
    if (!outcomes[outcomes.length - 1]!.ok) throw new Error(`reload failed: ${outcomes[outcomes.length - 1]!.error}`);
    times['file reload (listener added/removed)']!.push(ms(t1));
  }
  const busyMs = ms(t0);
  await busy.end();

  for (const [what, list] of Object.entries(times)) console.log(`- ${what.padEnd(38)} ${summary(list)}`);
  console.log(`\n- quiet: ${quiet.counts.served} clients in ${quietMs} ms (${quietRate.toFixed(0)}/s), ${quiet.counts.failed} failed`);
  console.log(
    `- during ${Object.values(times).flat().length} changes: ${busy.counts.served} clients in ${busyMs.toFixed(0)} ms ` +
      `(${(busy.counts.served / (busyMs / 1000)).toFixed(0)}/s, ${((busy.counts.served / (busyMs / 1000) / quietRate) * 100).toFixed(0)}% of quiet), ` +
      `${busy.counts.failed} failed${busy.counts.failed ? `: ${JSON.stringify([...busy.counts.errors])}` : ''}`,
  );

  await admin.close();
  await watcher.close();
  await group.stop(0);
  for (const s of [one, two, extra]) s.close();
}

await main();
process.exit(0);
