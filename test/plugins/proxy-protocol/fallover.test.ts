/**
 * The header toward nodes follows fall-overs: each node the connection moves on to gets
 * it again (a node that accepted, got a header, and closed before any byte passed is a
 * failed node, not the one that serves), and a node of a fall-over cluster gets what its
 * own cluster's `proxyProtocol` says, not the client's cluster.
 */
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, freePort, HOST } from '../../helpers/net.ts';
import { DATA_PATHS, exchange, startHeaderNode, startWithPlugin, type HeaderNode } from './harness.ts';

const fallover = suite<{ tb?: TestBalancer; nodes: HeaderNode[]; servers: net.Server[] }>('PROXY headers and fall-over', { nodes: [], servers: [] });

fallover.after.each(async (ctx) => {
  await ctx.tb?.stop();
  for (const n of ctx.nodes) await n.close();
  for (const s of ctx.servers) await closeServer(s);
  Object.assign(ctx, { tb: undefined, nodes: [], servers: [] });
});

/** A node that accepts and closes at once, keeping what it was sent before it closed. */
async function closer(): Promise<{ server: net.Server; port: number; got: Buffer[] }> {
  const got: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    // Read what arrived at once (the header), then close before answering anything.
    setTimeout(() => {
      const chunk = s.read() as Buffer | null;
      if (chunk) got.push(chunk);
      s.destroy();
    }, 20);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return { server, port: (server.address() as net.AddressInfo).port, got };
}

for (const dataPath of DATA_PATHS) {
  fallover(`a node that closed at once is failed over; the next node gets the header again (${dataPath} data path)`, async (ctx) => {
    const bad = await closer();
    ctx.servers.push(bad.server);
    const good = await startHeaderNode();
    ctx.nodes.push(good);
    const tb = (ctx.tb = await startWithPlugin({
      dataPath,
      listeners: [{ port: 0, host: HOST, cluster: 'c' }],
      clusters: { c: { balance: 'round-robin', proxyProtocol: 'v1', nodes: [{ id: 'bad', address: `${HOST}:${bad.port}` }, { id: 'good', address: `${HOST}:${good.port}` }] } },
    }));
    // Round robin starts anywhere: dial until the bad node was tried first once. The client
    // says nothing for 150 ms: a byte passed to the bad node would make its close no failure.
    for (let i = 0; i < 4 && bad.got.length === 0; i++) await exchange(tb.port, [Buffer.alloc(0), 'xy'], { from: '127.0.0.2', gapMs: 150, ms: 5000 });
    assert.ok(bad.got.length > 0, 'the closing node was dialled');
    assert.match(Buffer.concat(bad.got).toString('latin1'), /^PROXY TCP4 127\.0\.0\.2 127\.0\.0\.1 \d+ \d+\r\n/);
    const last = good.visits.at(-1)!;
    assert.match(last.header.toString('latin1'), new RegExp(`^PROXY TCP4 127\\.0\\.0\\.2 127\\.0\\.0\\.1 \\d+ ${tb.port}\\r\\n$`));
    assert.is(last.data.toString(), 'xy', 'the client\'s bytes went to the node that served, after its header');
  });

  fallover(`a node of a fall-over cluster gets what its own cluster says (${dataPath} data path)`, async (ctx) => {
    const [v2Node, plainNode] = [await startHeaderNode(), await startHeaderNode()];
    ctx.nodes.push(v2Node, plainNode);
    const dead = await freePort();
    const cluster = (fallback: string, extra: object) => ({ fallover: fallback, nodes: [{ id: 'dead', address: `${HOST}:${dead}` }], ...extra });
    const tb = (ctx.tb = await startWithPlugin({
      dataPath,
      listeners: [
        { port: 0, host: HOST, cluster: 'sends-v1', name: 'a' },
        { port: 0, host: HOST, cluster: 'sends-nothing', name: 'b' },
      ],
      clusters: {
        'sends-v1': cluster('backup-plain', { proxyProtocol: 'v1' }),
        'sends-nothing': cluster('backup-v2', {}),
        'backup-plain': { nodes: [{ id: 'p', address: `${HOST}:${plainNode.port}` }] },
        'backup-v2': { proxyProtocol: 'v2', nodes: [{ id: 'q', address: `${HOST}:${v2Node.port}` }] },
      },
    }));
    const portOf = (name: string) => tb.balancer.addresses().find((a) => a.listener === name)!.port;
    await exchange(portOf('a'), ['x'], { ms: 5000 });
    await exchange(portOf('b'), ['y'], { ms: 5000 });
    // The plain node is sent no header: its "header" is the client's first byte, no PROXY.
    assert.is(plainNode.visits.length, 1);
    assert.equal([plainNode.visits[0]!.parsed.state, plainNode.visits[0]!.header.toString()], ['error', 'x']);
    assert.is(v2Node.visits.length, 1);
    const v2 = v2Node.visits[0]!.parsed;
    assert.equal(v2.state === 'done' && [v2.version, v2.source?.address, v2.destination?.port], [2, '127.0.0.1', portOf('b')]);
  });
}

fallover.run();
