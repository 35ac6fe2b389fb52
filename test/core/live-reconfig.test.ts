/**
 * Live reconfiguration with clients running: the controller switch (a listener pointed at
 * another cluster) by editing the config file and through the admin API, listeners added
 * and removed by a file edit, in a group of two processes. Every client of the loops must
 * get its full answer: zero failed connections. Open connections keep their node.
 */
import { writeFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../core/config-load.ts';
import type { ReloadOutcome } from '../../core/watch.ts';
import { ProcessGroup } from '../../core/workers/group.ts';
import { startControlled } from '../helpers/admin.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, connect, freePort, roundTrip, startServer, waitFor, withTimeout } from '../helpers/net.ts';
import { withBuiltins } from '../helpers/assembly.ts';

/** A server that answers every connection with `<name>:` and then echoes. */
function namedServer(name: string): Promise<Server> {
  return startServer((socket) => {
    socket.write(`${name}:`);
    socket.pipe(socket);
  });
}

interface Listener {
  name: string;
  port: number;
  cluster: string;
}

function configText(listeners: Listener[], one: string, two: string): string {
  const ls = listeners.map((l) => `{ name: '${l.name}', port: ${l.port}, host: '127.0.0.1', cluster: '${l.cluster}' }`).join(', ');
  return `export default {
  listeners: [${ls}],
  clusters: {
    one: { nodes: [{ id: 'a', address: '${one}' }] },
    two: { nodes: [{ id: 'b', address: '${two}' }] },
  },
  workers: 2, stateDir: './state', log: { level: 'silent' },
};\n`;
}

/**
 * Clients in a loop, `parallel` at a time, until stopped (or `max` clients or `ms`): each
 * sends a unique text and must get `<server>:<text>` back whole.
 */
function clientLoop(port: number, o: { parallel?: number; max?: number; ms?: number } = {}) {
  const { parallel = 4, max = 20_000, ms = 20_000 } = o;
  const served: string[] = [];
  /** Server of client i (in the order the clients started). */
  const byClient: string[] = [];
  const failures: string[] = [];
  let stopped = false;
  let n = 0;
  const until = Date.now() + ms;
  const one = async (): Promise<void> => {
    while (!stopped && n < max && Date.now() < until) {
      const i = n++;
      const text = `ping-${i}`;
      try {
        const reply = await roundTrip(port, text);
        const [server, echoed] = reply.split(':');
        if (echoed !== text) failures.push(`sent ${text}, got ${JSON.stringify(reply)}`);
        else {
          served.push(server!);
          byClient[i] = server!;
        }
      } catch (err) {
        failures.push(`${text}: ${(err as Error).message}`);
      }
    }
  };
  const running = Promise.all(Array.from({ length: parallel }, one));
  return {
    served,
    byClient,
    failures,
    /** Clients started so far. */
    get started() {
      return n;
    },
    /** Resolves when the loop has run its `max` clients (or its time). */
    finished: running,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

async function rig(listeners: (ports: number[]) => Listener[]) {
  const one = await namedServer('A');
  const two = await namedServer('B');
  const ports = [await freePort(), await freePort()];
  const text = (ls: Listener[]) => configText(ls, addr(one), addr(two));
  const c = await startControlled(text(listeners(ports)), { watch: true, debounceMs: 50 });
  assert.is(c.group.serving, 2);
  /** Write the config and wait for the reload it causes (which must succeed unless `failing`). */
  const edit = async (ls: Listener[], failing = false): Promise<ReloadOutcome> => {
    const from = c.outcomes.length;
    writeFileSync(c.file, text(ls));
    await waitFor(() => c.outcomes.length > from, 10_000, 'the reload after the edit');
    const last = c.outcomes[c.outcomes.length - 1]!;
    if (!failing) assert.ok(last.ok, `reload failed: ${last.error}`);
    return last;
  };
  const closeServers = () => Promise.all([closeServer(one), closeServer(two)]);
  const stop = async (o: { keepServers?: boolean } = {}) => {
    await c.stop();
    if (o.keepServers) return;
    await closeServers();
  };
  return { ...c, ports, edit, stop, closeServers };
}

/** An open connection through the balancer, and a way to check it still answers. */
async function heldConnection(port: number): Promise<{ socket: Socket; ask(text: string): Promise<string> }> {
  const socket = await connect(port);
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  return {
    socket,
    async ask(text) {
      const from = got.length;
      socket.write(text);
      await waitFor(() => got.slice(from).includes(text), 5000, `the held connection's answer to ${text}`);
      return got;
    },
  };
}

test('controller switch by editing the file: new clients go to cluster two, zero failures, open ones stay', async () => {
  const r = await rig(([p]) => [{ name: 'front', port: p!, cluster: 'one' }]);
  try {
    const port = r.ports[0]!;
    const held = await heldConnection(port);
    assert.ok((await held.ask('before')).startsWith('A:'));
    const loop = clientLoop(port);
    await waitFor(() => loop.served.length >= 200, 10_000, '200 clients before the switch');
    await r.edit([{ name: 'front', port, cluster: 'two' }]);
    // The watcher's reload has finished in every process: clients started from here reach B.
    const from = loop.started;
    await waitFor(() => loop.served.length >= from + 200, 10_000, '200 clients after the switch');
    await loop.stop();
    assert.equal(loop.failures, [], `failed clients: ${loop.failures.slice(0, 5).join('; ')}`);
    assert.ok(loop.byClient.slice(0, 100).every((s) => s === 'A'), 'before the switch: cluster one');
    assert.ok(loop.byClient.slice(from).every((s) => s === 'B'), 'after the switch: cluster two only');
    // In every process: each routes the listener to cluster two.
    const s = await r.group.snapshot();
    assert.ok(s.listeners.find((l) => l.listener === 'front')!.accepted >= loop.served.length);
    assert.is(r.group.generation.routes.get('front'), 'two');
    // The connection opened before the switch is still on cluster one, and still works.
    const held2 = await held.ask('after');
    assert.ok(held2.startsWith('A:before') && held2.endsWith('after'));
    held.socket.destroy();
  } finally {
    await r.stop();
  }
});

test('controller switch through the admin API: zero failures, and it holds across a restart', async () => {
  const r = await rig(([p]) => [{ name: 'front', port: p!, cluster: 'one' }]);
  const put = (route: string, body: unknown) => r.call('PUT', route, body);
  let stopped = false;
  try {
    const port = r.ports[0]!;
    const loop = clientLoop(port);
    await waitFor(() => loop.served.length >= 200, 10_000, '200 clients before the switch');
    const res = await put('/listeners/front/cluster', { cluster: 'two' });
    assert.is(res.status, 200);
    // The answer comes once every process routes to cluster two: every client started
    // from here on must reach B (those in flight may still be on A).
    const from = loop.started;
    await waitFor(() => loop.served.length >= from + 200, 10_000, '200 clients after the switch');
    await loop.stop();
    assert.equal(loop.failures, []);
    const later = loop.byClient.slice(from);
    assert.ok(later.length >= 200 && later.every((s) => s === 'B'), `after the answer: cluster two only (${later.filter((s) => s !== 'B').length} elsewhere)`);
    assert.is((await put('/listeners/front/cluster', { cluster: 'nowhere' })).status, 404);
    assert.is((await put('/listeners/back/cluster', { cluster: 'two' })).status, 404);
    assert.is((await put('/listeners/front/cluster', { cluster: 7 })).status, 400);

    // A restart keeps the switch: it is in the state directory, and the file was not changed.
    await r.stop({ keepServers: true });
    stopped = true;
    const config = await loadConfig(r.config.source);
    const group = new ProcessGroup({ config, logger: recordingLogger(), ...withBuiltins() });
    await group.start();
    try {
      await withTimeout(group.workersReady, 30_000, 'the worker');
      assert.is(group.generation.routes.get('front'), 'two');
      assert.is(await roundTrip(port, 'x'), 'B:x');
    } finally {
      await group.stop(0);
      await r.closeServers();
    }
  } finally {
    if (!stopped) await r.stop();
  }
});

test('a file edit opens a new listener and closes a removed one in every process, zero failures', async () => {
  const r = await rig(([p]) => [{ name: 'front', port: p!, cluster: 'one' }]);
  try {
    const [p1, p2] = r.ports as [number, number];
    const held = await heldConnection(p1);
    await held.ask('held');
    await r.edit([
      { name: 'front', port: p1, cluster: 'one' },
      { name: 'second', port: p2, cluster: 'two' },
    ]);
    // Both processes accept on the new socket: many clients, all served (the kernel spreads them).
    const onSecond = clientLoop(p2, { max: 300 });
    await onSecond.finished;
    assert.equal(onSecond.failures, []);
    assert.is(onSecond.served.length, 300);
    assert.ok(onSecond.served.every((s) => s === 'B'));
    const perProcess = await Promise.all([r.group.balancer.snapshot(), r.group.snapshot()]);
    assert.ok(perProcess[0].listeners.some((l) => l.listener === 'second'));

    // Remove `front` while clients run on `second`: they see nothing of it.
    const loop = clientLoop(p2);
    await waitFor(() => loop.served.length >= 100, 10_000, 'clients on the second listener');
    await r.edit([{ name: 'second', port: p2, cluster: 'two' }]);
    const after = loop.served.length;
    await waitFor(() => loop.served.length >= after + 100, 10_000, 'clients after the removal');
    await loop.stop();
    assert.equal(loop.failures, []);
    // Nothing accepts on the removed port any more (every process closed its socket)…
    const refused = await connect(p1).then(
      (s) => {
        s.destroy();
        return false;
      },
      (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
    );
    assert.ok(refused, 'the removed listener still accepts');
    // …and the connection it had drains on its own terms.
    assert.ok((await held.ask('still')).endsWith('still'));
    held.socket.destroy();
    assert.equal(r.group.balancer.addresses().map((x) => x.listener), ['second']);
  } finally {
    await r.stop();
  }
});

test('a new listener on a port in use fails the whole reload; the old config serves on', async () => {
  const r = await rig(([p]) => [{ name: 'front', port: p!, cluster: 'one' }]);
  const squatter = await startServer(() => {});
  try {
    const [p1] = r.ports as [number];
    const taken = (squatter.address() as import('node:net').AddressInfo).port;
    const generation = r.group.generation.id;
    const outcome = await r.edit(
      [
        { name: 'front', port: p1, cluster: 'two' },
        { name: 'second', port: taken, cluster: 'two' },
      ],
      true,
    );
    assert.is(outcome.ok, false);
    assert.match(String(outcome.error), `listeners[1]: cannot listen on 127.0.0.1:${taken}: address already in use`);
    assert.is(r.group.generation.id, generation);
    assert.is(r.group.generation.routes.get('front'), 'one', 'the route change in the same edit did not happen either');
    assert.is(await roundTrip(p1, 'x'), 'A:x');
    assert.equal(r.group.balancer.addresses().map((a) => a.listener), ['front']);
  } finally {
    await closeServer(squatter);
    await r.stop();
  }
});

test.run();
