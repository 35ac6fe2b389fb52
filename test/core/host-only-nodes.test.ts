/**
 * A node address given as a host alone means "the port the client dialled", behind any
 * listener: a single port, a range, or both on one cluster (passive FTP: the control port
 * and the data range share one cluster and its affinity).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net, { type Server } from 'node:net';
import { createBalancer, validateConfig, type Config } from '../../core/index.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { closeServer, connect, readAll } from '../helpers/net.ts';
import { builtinPlugins } from '../helpers/assembly.ts';

const BACKEND = '127.0.0.2';

function problem(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (err) {
    return String((err as Error).message);
  }
  return '';
}

const valid = suite('host-only nodes: validation');

valid('a host alone is valid behind a single-port listener', () => {
  const r = validateConfig({
    listeners: [{ port: 21, cluster: 'ftp' }],
    clusters: { ftp: { nodes: [{ id: 'a', address: '127.0.0.2' }, { id: 'b', address: '[::1]' }, { id: 'c', address: 'ftp.example' }] } },
  });
  assert.equal(r.clusters.ftp!.nodes.map((n) => [n.host, n.port]), [['127.0.0.2', undefined], ['::1', undefined], ['ftp.example', undefined]]);
});

valid('a host alone is valid behind a single port and a range sharing one cluster', () => {
  const r = validateConfig({
    listeners: [
      { port: 21, cluster: 'ftp' },
      { port: '50000-50100', cluster: 'ftp' },
    ],
    clusters: { ftp: { affinity: { enabled: true }, nodes: [{ id: 'a', address: '127.0.0.2' }, { id: 'b', address: '127.0.0.3:2121' }] } },
  });
  assert.is(r.clusters.ftp!.nodes[0]!.port, undefined);
  assert.is(r.clusters.ftp!.nodes[1]!.port, 2121);
});

valid('a host alone is valid in a fall-over cluster reached from a single port', () => {
  const r = validateConfig({
    listeners: [{ port: 80, cluster: 'web' }],
    clusters: {
      web: { fallover: 'spare', nodes: [{ id: 'a', address: '10.0.0.1:80' }] },
      spare: { nodes: [{ id: 's', address: '10.0.0.9' }] },
    },
  });
  assert.is(r.clusters.spare!.nodes[0]!.port, undefined);
});

valid('every other address check still holds', () => {
  const config = (address: string) => ({ listeners: [{ port: 21, cluster: 'ftp' }], clusters: { ftp: { nodes: [{ id: 'a', address }] } } });
  for (const address of ['300.1.1.1', '-a.example', 'a..b', '[foo]', '10.0.0.1:99999', 'a:b:c', '', ' ']) {
    assert.match(problem(config(address)), `clusters.ftp.nodes[0].address: expected "host:port"`, address);
  }
});

/** Listen on `port` of `host`, answering every connection with `port <p>` and closing. */
function listenOn(host: string, port: number): Promise<Server | undefined> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`port ${port}`);
  });
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => resolve(server));
  });
}

/**
 * Backends on 127.0.0.2 at `count` ports from a random base below Linux's ephemeral range,
 * and a balancer on 127.0.0.1 whose listeners the caller builds from that base; retried
 * when a port is taken.
 */
async function setUp(count: number, listeners: (base: number) => Config['listeners']) {
  const backends: Server[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    for (const s of backends.splice(0)) await closeServer(s);
    for (let p = base; p < base + count; p++) {
      const server = await listenOn(BACKEND, p);
      if (!server) break;
      backends.push(server);
    }
    if (backends.length < count) continue;
    const balancer = createBalancer(
      { listeners: listeners(base), clusters: { ftp: { nodes: [{ id: 'x', address: BACKEND }] } } },
      { logger: recordingLogger(), builtins: builtinPlugins() },
    );
    const addresses = await balancer.start().catch(() => undefined);
    if (!addresses) {
      await balancer.stop(100).catch(() => {});
      continue;
    }
    return { base, balancer, backends, addresses };
  }
  for (const s of backends) await closeServer(s);
  throw new Error(`no ${count} free ports on 127.0.0.1 and ${BACKEND} after 20 tries`);
}

async function answer(port: number): Promise<string> {
  return (await readAll(await connect(port))).toString();
}

const forward = suite('host-only nodes: forwarding');

forward('a single-port listener forwards to the same port on a host-only node', async () => {
  const t = await setUp(1, (base) => [{ port: base, host: '127.0.0.1', cluster: 'ftp' }]);
  try {
    assert.equal(t.addresses.map((a) => a.port), [t.base]);
    assert.is(await answer(t.base), `port ${t.base}`);
  } finally {
    await t.balancer.stop(100);
    for (const s of t.backends) await closeServer(s);
  }
});

forward('a single port and a range on one cluster reach the node at the matching ports', async () => {
  // base: the "control" port; base+1..base+3: the "passive" range.
  const t = await setUp(4, (base) => [
    { port: base, host: '127.0.0.1', cluster: 'ftp', name: 'control' },
    { port: `${base + 1}-${base + 3}`, host: '127.0.0.1', cluster: 'ftp', name: 'data' },
  ]);
  try {
    assert.equal(t.addresses.map((a) => a.port), [t.base, t.base + 1, t.base + 2, t.base + 3]);
    for (let p = t.base; p < t.base + 4; p++) assert.is(await answer(p), `port ${p}`);
  } finally {
    await t.balancer.stop(100);
    for (const s of t.backends) await closeServer(s);
  }
});

valid.run();
forward.run();
