/**
 * A listener with `acceptProxyProtocol` and clients that send no good header: malformed
 * (refused at once, code `proxy-protocol`), cut short (the client ends mid-header) and
 * slow (the deadline): each is closed, its reason logged, its refusal counted by code, and
 * the node never gets a connection. And the good cases at the edges: a header that
 * dribbles in byte by byte within the deadline, data in the header's own packet, LOCAL.
 */
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config, ListenerConfig } from 'protobalance';
import { encodeV1, encodeV2 } from '../../../plugins/proxy-protocol/encode.ts';
import { V2_SIGNATURE } from '../../../plugins/proxy-protocol/parse.ts';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { waitFor, withTimeout } from '../../helpers/net.ts';
import { DATA_PATHS, exchange, startCountingNode, startWithPlugin, type DataPathName } from './harness.ts';

type Node = Awaited<ReturnType<typeof startCountingNode>>;
const refusals = suite<{ tb?: TestBalancer; node?: Node }>('headers that are refused');

async function cleanUp(ctx: { tb?: TestBalancer; node?: Node }): Promise<void> {
  await ctx.tb?.stop();
  await ctx.node?.close();
  ctx.tb = undefined;
  ctx.node = undefined;
}
refusals.after.each(cleanUp);

function config(dataPath: DataPathName, nodePort: number, listener: Partial<ListenerConfig> = {}): Config {
  return {
    dataPath,
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', name: 'front', acceptProxyProtocol: true, ...listener }],
    clusters: { c: { nodes: [{ id: 'n', address: `127.0.0.1:${nodePort}` }] } },
    log: { level: 'info', access: true },
  };
}

async function start(ctx: { tb?: TestBalancer; node?: Node }, dataPath: DataPathName, listener: Partial<ListenerConfig> = {}) {
  const node = (ctx.node = await startCountingNode());
  const tb = (ctx.tb = await startWithPlugin(config(dataPath, node.port, listener)));
  return { node, tb };
}

/** The access line of the one connection so far. */
async function accessLine(tb: TestBalancer): Promise<Record<string, unknown>> {
  await waitFor(() => tb.logger.lines.some((l) => l.msg === 'connection'), 5000, 'the access log line');
  return tb.logger.lines.find((l) => l.msg === 'connection')!.fields;
}

const refusedBy = (tb: TestBalancer) => tb.balancer.snapshot().listeners.find((l) => l.listener === 'front')?.refusedBy ?? {};

const MALFORMED: [string, string | Buffer, RegExp, (true | 'v1' | 'v2')?][] = [
  ['no header at all', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', /PROXY protocol: expected a PROXY protocol header, got "GET \/ HTTP\/1…"/],
  ['a bad v1 address', 'PROXY TCP4 10.0.0.256 10.0.0.1 1 2\r\n', /PROXY protocol: v1: source "10\.0\.0\.256" is not a dotted IPv4/],
  ['a v1 line ended by LF alone', 'PROXY TCP4 10.0.0.2 10.0.0.1 1 2\n', /a line feed without the carriage return/],
  ['a v1 line of 107 bytes without CRLF', `PROXY UNKNOWN ${'a'.repeat(100)}`, /no CRLF within the first 107 bytes/],
  ['a v2 version 3', Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0, 12])]), /v2: version 3, expected 2/],
  ['a v2 header over the limit', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x01, 0x00])]), /a header of 272 bytes, over the limit of 232/],
  ['v2 where only v1 is taken', encodeV2({ address: '10.0.0.2', port: 1 }, { address: '10.0.0.1', port: 2 }), /expected a PROXY protocol v1 header/, 'v1'],
  ['v1 where only v2 is taken', encodeV1({ address: '10.0.0.2', port: 1 }, { address: '10.0.0.1', port: 2 }), /expected a PROXY protocol v2 header/, 'v2'],
];

const taken = suite<{ tb?: TestBalancer; node?: Node }>('headers that are taken');

taken.after.each(cleanUp);

/** The tests, on one data path. */
function onDataPath(dataPath: DataPathName): void {
  for (const [what, bytes, reason, accept] of MALFORMED) {
    refusals(`malformed, ${what}: closed at once, reason logged, counted as proxy-protocol, no node (${dataPath})`, async (ctx) => {
      const { node, tb } = await start(ctx, dataPath, accept ? { acceptProxyProtocol: accept } : {});
      // The client keeps its side open: the balancer, not the client's end, must close it.
      const ex = await exchange(tb.port, [bytes], { end: false, ms: 2000 });
      assert.ok(ex.closedAfterMs < 1000, `closed after ${ex.closedAfterMs} ms: at once, not at the deadline`);
      assert.is(ex.answer.length, 0);
      const line = await accessLine(tb);
      assert.is(line.outcome, 'refused');
      assert.match(String(line.reason), reason);
      assert.equal(refusedBy(tb), { 'proxy-protocol': 1 });
      assert.is(node.connections(), 0);
    });
  }

  refusals(`cut short: a client that ends mid-header is refused (code proxy-protocol), no node (${dataPath})`, async (ctx) => {
    const { node, tb } = await start(ctx, dataPath);
    await exchange(tb.port, ['PROXY TCP4 10.0.0.2 10.0'], { end: true });
    const line = await accessLine(tb);
    assert.is(line.outcome, 'refused');
    assert.match(String(line.reason), /before its preface was complete/);
    assert.equal(refusedBy(tb), { 'proxy-protocol': 1 });
    assert.is(node.connections(), 0);
  });

  refusals(`slow: a header not complete by proxyProtocolTimeout is refused then (code proxy-protocol), no node (${dataPath})`, async (ctx) => {
    const { node, tb } = await start(ctx, dataPath, { proxyProtocolTimeout: '400ms' });
    const ex = await exchange(tb.port, [V2_SIGNATURE.subarray(0, 5)], { end: false, ms: 5000 });
    assert.ok(ex.closedAfterMs >= 350 && ex.closedAfterMs < 3000, `closed after ${ex.closedAfterMs} ms`);
    const line = await accessLine(tb);
    assert.is(line.outcome, 'refused');
    assert.match(String(line.reason), /no complete preface within 400 ms/);
    assert.equal(refusedBy(tb), { 'proxy-protocol': 1 });
    assert.is(node.connections(), 0);
  });

  refusals(`a client the header names, refused by a later check: the refusal line names the listener and the balancer in front (${dataPath})`, async (ctx) => {
    const { node, tb } = await start(ctx, dataPath, { deny: ['203.0.113.0/24'] });
    const header = encodeV1({ address: '203.0.113.7', port: 40000 }, { address: '198.51.100.1', port: 443 });
    await exchange(tb.port, [Buffer.concat([header, Buffer.from('hello')])], { end: false, ms: 2000 });
    await waitFor(() => tb.logger.lines.some((l) => l.fields.code === 'access-denied'), 5000, 'the refusal line');
    const line = tb.logger.lines.find((l) => l.fields.code === 'access-denied')!;
    assert.equal([line.fields.client, line.fields.listener, line.fields.cluster, line.fields.proxiedBy], ['203.0.113.7', 'front', 'c', '127.0.0.1']);
    assert.equal(refusedBy(tb), { 'access-denied': 1 });
    assert.is(node.connections(), 0);
  });

  taken(`a header that dribbles in byte by byte within the deadline, then data: the node gets the data alone (${dataPath})`, async (ctx) => {
    const { node, tb } = await start(ctx, dataPath, { proxyProtocolTimeout: '5s' });
    const header = encodeV1({ address: '203.0.113.7', port: 40000 }, { address: '198.51.100.1', port: 443 });
    const ex = await exchange(tb.port, [...[...header].map((b) => Buffer.from([b])), 'hello', ' world'], { gapMs: 5 });
    assert.is(ex.answer.toString(), 'hello world');
    const line = await accessLine(tb);
    assert.equal([line.client, line.clientPort, line.outcome], ['203.0.113.7', 40000, 'closed']);
    assert.is(line.bytesToClient, 11);
    assert.is(node.connections(), 1);
    assert.equal(refusedBy(tb), {});
  });

  taken(`data in the header's own packet (v2, IPv6 client) goes to the node first, intact (${dataPath})`, async (ctx) => {
    const { tb } = await start(ctx, dataPath, { acceptProxyProtocol: 'v2' });
    const header = encodeV2({ address: '2001:db8::7', port: 1234 }, { address: '2001:db8::1', port: 80 });
    const ex = await exchange(tb.port, [Buffer.concat([header, Buffer.from('first')]), ' second']);
    assert.is(ex.answer.toString(), 'first second');
    const line = await accessLine(tb);
    assert.equal([line.client, line.clientPort], ['2001:db8::7', 1234]);
  });

  taken(`an open connection is listed (status, admin API) under the client the header named (${dataPath})`, async (ctx) => {
    const { tb } = await start(ctx, dataPath);
    const socket = net.connect({ host: '127.0.0.1', port: tb.port });
    try {
      socket.write(encodeV1({ address: '198.51.100.23', port: 4242 }, { address: '192.0.2.1', port: 443 }));
      socket.write('hi');
      await withTimeout(new Promise((resolve) => socket.once('data', resolve)), 3000, 'the echo');
      assert.equal(tb.balancer.connections().map((c) => c.client), ['198.51.100.23:4242']);
    } finally {
      socket.destroy();
    }
  });

  taken(`v2 LOCAL and v1 UNKNOWN keep the socket's own client (${dataPath})`, async (ctx) => {
    const { tb } = await start(ctx, dataPath);
    const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]);
    for (const header of [local, Buffer.from('PROXY UNKNOWN\r\n')]) {
      const ex = await exchange(tb.port, [Buffer.concat([header, Buffer.from('ping')])]);
      assert.is(ex.answer.toString(), 'ping');
    }
    await waitFor(() => tb.logger.lines.filter((l) => l.msg === 'connection').length === 2, 3000, 'two access lines');
    for (const l of tb.logger.lines.filter((x) => x.msg === 'connection')) assert.is(l.fields.client, '127.0.0.1');
  });
}

for (const dataPath of DATA_PATHS) onDataPath(dataPath);

refusals('the default deadline is 3 s (once: the timer is the core\'s, not a data path\'s)', async (ctx) => {
  const { node, tb } = await start(ctx, 'auto');
  const ex = await exchange(tb.port, ['PROXY '], { end: false, ms: 8000 });
  assert.ok(ex.closedAfterMs >= 2900 && ex.closedAfterMs < 6000, `closed after ${ex.closedAfterMs} ms`);
  assert.equal(refusedBy(tb), { 'proxy-protocol': 1 });
  assert.is(node.connections(), 0);
});

refusals.run();
taken.run();
