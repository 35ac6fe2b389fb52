/**
 * The access log (plugins/logging/access-log.ts): with `log.access`, one line per
 * connection as it ends, with who, where, how much, how long and how it ended; nothing
 * without it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { oneCluster, startBalancer } from '../../helpers/balancer.ts';
import { closeServer, freePort, HOST, portOf, roundTrip, startEchoServer, waitFor } from '../../helpers/net.ts';

const lines = (tb: Awaited<ReturnType<typeof startBalancer>>) => tb.logger.lines.filter((l) => l.msg === 'connection');

test('one line per connection at its end: client, listener, cluster, node, bytes each way, duration, outcome', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer({ ...oneCluster([`${HOST}:${portOf(echo)}`]), log: { level: 'info', access: true } });
  try {
    assert.is(await roundTrip(tb.port, 'hello'), 'hello');
    await waitFor(() => lines(tb).length === 1, 2000, 'the access line');
    const f = lines(tb)[0]!.fields;
    assert.is(lines(tb)[0]!.level, 'info');
    assert.is(f.client, '127.0.0.1');
    assert.type(f.clientPort, 'number');
    assert.ok((f.clientPort as number) > 0);
    assert.is(f.listener, tb.balancer.addresses()[0]!.listener);
    assert.is(f.cluster, 'c');
    assert.is(f.node, 'c/n0');
    assert.is(f.bytesFromClient, 5);
    assert.is(f.bytesToClient, 5);
    assert.type(f.durationMs, 'number');
    assert.is(f.outcome, 'closed');
    assert.is(f.reason, undefined);
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test('a connection that reached no node is logged with its outcome and reason', async () => {
  const dead = await freePort();
  const tb = await startBalancer({ ...oneCluster([`${HOST}:${dead}`]), log: { level: 'info', access: true } });
  try {
    await roundTrip(tb.port, 'x').catch(() => '');
    await waitFor(() => lines(tb).length === 1, 3000, 'the access line');
    const f = lines(tb)[0]!.fields;
    assert.is(f.client, '127.0.0.1');
    assert.is(f.outcome, 'unavailable');
    assert.match(String(f.reason), 'no node could be reached');
    assert.is(f.bytesToClient, 0);
  } finally {
    await tb.stop();
  }
});

test('off by default: no access lines', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer({ ...oneCluster([`${HOST}:${portOf(echo)}`]), log: { level: 'info' } });
  try {
    assert.is(await roundTrip(tb.port, 'hi'), 'hi');
    await waitFor(() => tb.balancer.connections().length === 0, 2000, 'the connection to end');
    assert.is(lines(tb).length, 0);
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test.run();
