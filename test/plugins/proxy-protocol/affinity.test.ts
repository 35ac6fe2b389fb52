/**
 * Client affinity keys on the client a PROXY header names, not on the balancer in front.
 * Two nodes in round robin with affinity, every client arriving from the same socket
 * peer (127.0.0.1, as behind one front balancer): client A goes to a node and stays there;
 * client B, a different header, goes to the other node. Keyed on the socket peer, B would
 * follow A; without affinity, A would alternate.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeV2 } from '../../../plugins/proxy-protocol/encode.ts';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { DATA_PATHS, exchange, startHeaderNode, startWithPlugin, type HeaderNode } from './harness.ts';

const affinity = suite<{ tb?: TestBalancer; nodes: HeaderNode[] }>('affinity behind a PROXY header', { nodes: [] });

affinity.after.each(async (ctx) => {
  await ctx.tb?.stop();
  for (const n of ctx.nodes) await n.close();
  ctx.tb = undefined;
  ctx.nodes = [];
});

for (const dataPath of DATA_PATHS) {
  affinity(`the header's client is the key (${dataPath} data path)`, async (ctx) => {
    const nodes = (ctx.nodes = [await startHeaderNode(), await startHeaderNode()]);
    const tb = (ctx.tb = await startWithPlugin({
      dataPath,
      listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', acceptProxyProtocol: 'v2' }],
      clusters: {
        c: {
          balance: 'round-robin',
          affinity: { enabled: true },
          // The nodes are sent v1, so each visit says which client the node was told of.
          proxyProtocol: 'v1',
          nodes: nodes.map((n, i) => ({ id: `n${i}`, address: `127.0.0.1:${n.port}` })),
        },
      },
    }));
    const dest = { address: '192.0.2.1', port: 443 };
    /** The node (0 or 1) that served a connection whose header names `client`. */
    const served = async (client: string, port: number) => {
      const before = nodes.map((n) => n.visits.length);
      await exchange(tb.port, [encodeV2({ address: client, port }, dest), 'x'], { gapMs: 20, ms: 5000 });
      const i = nodes.findIndex((n, k) => n.visits.length > before[k]!);
      assert.is(nodes[i]!.visits.at(-1)!.header.toString('latin1'), `PROXY TCP4 ${client} 127.0.0.1 ${port} ${tb.port}\r\n`);
      return i;
    };
    const a = await served('198.51.100.10', 1000);
    assert.is(await served('198.51.100.10', 1001), a, 'A again: bound to its node');
    assert.is(await served('198.51.100.20', 2000), 1 - a, 'B: the rotation goes on to the other node');
    assert.is(await served('198.51.100.10', 1002), a, 'A still on its node');
    assert.is(await served('198.51.100.20', 2001), 1 - a, 'B bound to its own');
  });
}

affinity.run();
