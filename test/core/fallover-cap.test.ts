/**
 * Fall-over is capped per connection (maxFallovers), so a cluster of dead nodes answers
 * every client within (maxFallovers + 1) dials, and shutdown keeps to drainTimeout.
 * Dead nodes are loopback addresses where nothing listens: each dial is refused at once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, closed, startEchoServer, addr, closeServer, roundTrip } from '../helpers/net.ts';
import { startBalancer } from '../helpers/balancer.ts';
import type { Config } from '../../core/index.ts';

/** `n` node addresses on 127.x.y.z port 9, where nothing listens. */
const deadNodes = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `d${i}`, address: `127.${10 + Math.floor(i / 250)}.${i % 250}.1:9` }));

const cap = suite('fall-over: capped per connection');

cap('a client tries at most maxFallovers + 1 nodes, then is turned away with the reason', async () => {
  const config: Config = {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { nodes: deadNodes(6) } },
    maxFallovers: 2,
    connectTimeout: '1s',
  };
  const t = await startBalancer(config);
  try {
    const socket = await connect(t.port);
    await closed(socket);
    const failures = t.balancer.status().reduce((sum, n) => sum + n.failures, 0);
    assert.is(failures, 3, 'the first node and two fall-overs');
    assert.ok(t.logger.lines.some((l) => l.msg.startsWith('gave up after 2 fall-overs (maxFallovers; tried ')));
  } finally {
    await t.stop();
  }
});

cap('maxFallovers is validated', async () => {
  const { validateConfig } = await import('../../core/index.ts');
  const base = { listeners: [{ port: 1, cluster: 'c' }], clusters: { c: { nodes: deadNodes(1) } } };
  assert.is(validateConfig(base).maxFallovers, 3, 'the default');
  assert.is(validateConfig({ ...base, maxFallovers: 0 }).maxFallovers, 0);
  assert.throws(() => validateConfig({ ...base, maxFallovers: -1 }), /maxFallovers: expected a whole number 0-100, got -1/);
  assert.throws(() => validateConfig({ ...base, maxFallovers: 1.5 }), /maxFallovers: expected a whole number/);
});

cap('4,999 dead nodes and one live one: every client gets its answer or a refusal within the cap, and stop keeps to drainTimeout', async () => {
  const live = await startEchoServer();
  const nodes = [...deadNodes(4_999), { id: 'live', address: addr(live) }];
  const config: Config = {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { balance: 'random', nodes } },
    connectTimeout: '1s',
    drainTimeout: '1s',
  };
  const t = await startBalancer(config);
  try {
    const bound = (3 + 1) * 1_000 + 2_000; // the cap's dials, plus slack for a busy machine
    const results = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const started = Date.now();
        const answer = await roundTrip(t.port, 'ping').catch(() => 'refused');
        return { answer, ms: Date.now() - started };
      }),
    );
    for (const r of results) {
      assert.ok(r.answer === 'ping' || r.answer === 'refused' || r.answer === '', `answer ${JSON.stringify(r.answer)}`);
      assert.ok(r.ms <= bound, `a client waited ${r.ms} ms, more than the cap allows (${bound} ms)`);
    }
    const dials = t.balancer.status().reduce((sum, n) => sum + n.failures + n.totalConnections, 0);
    assert.ok(dials <= 50 * 4, `${dials} dials for 50 clients: at most 4 each`);
    // A connection held open through the live node while the balancer stops.
    const held = await connect(t.port);
    const stopStarted = Date.now();
    await t.balancer.stop(1_000);
    const stopMs = Date.now() - stopStarted;
    assert.ok(stopMs <= 1_000 + 2_000 + 1_000, `stop took ${stopMs} ms against a drainTimeout of 1000 ms`);
    held.destroy();
  } finally {
    await t.stop().catch(() => undefined);
    await closeServer(live);
  }
});

cap.run();
