/**
 * Runtime changes on one balancer (no process group), as the programmatic API offers them:
 * `applyChanges` with an operation of core/runtime-ops.ts, taking effect for the next
 * connection, kept in the state directory, and back at the next start on the same config.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChangeError, createBalancer, removeNode, setRoute, type Config } from '../../core/index.ts';
import { startBalancer } from '../helpers/balancer.ts';
import { closeServer, roundTrip, startServer, addr } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { builtinPlugins } from '../helpers/assembly.ts';

const named = (name: string) =>
  startServer((s) => {
    s.write(`${name}:`);
    s.pipe(s);
  });

test('a route change serves the next client, is saved, and holds at the next start', async () => {
  const one = await named('A');
  const two = await named('B');
  const stateDir = tmpDir();
  const config: Config = {
    listeners: [{ name: 'front', port: 0, host: '127.0.0.1', cluster: 'one' }],
    clusters: { one: { nodes: [{ id: 'a', address: addr(one) }] }, two: { nodes: [{ id: 'b', address: addr(two) }] } },
    stateDir,
    log: { level: 'silent' },
  };
  const first = await startBalancer(config);
  try {
    assert.is(await roundTrip(first.port, 'x'), 'A:x');
    const b = first.balancer;
    await b.applyChanges(setRoute(b.changeBase(), 'front', 'two'));
    assert.is(await roundTrip(first.port, 'y'), 'B:y');
    assert.ok(existsSync(path.join(stateDir, 'runtime-changes.json')));
    assert.throws(() => removeNode(b.changeBase(), 'two/b'), (e: unknown) => e instanceof ChangeError && e.kind === 'conflict');
  } finally {
    await first.stop();
  }
  const again = createBalancer(config, { builtins: builtinPlugins() });
  const [listening] = await again.start();
  try {
    assert.is(await roundTrip(listening!.port, 'z'), 'B:z');
    assert.equal(again.runtimeChanges().routes, { front: { cluster: 'two', file: 'one' } });
  } finally {
    await again.stop(0);
    await closeServer(one);
    await closeServer(two);
  }
});

test.run();
