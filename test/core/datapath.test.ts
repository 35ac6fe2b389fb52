/**
 * The fast data path's own behaviour (core/datapath/fast.ts), beside the socket suites
 * that run on both data paths: a bulk transfer moves to a read buffer of its own and
 * every byte still arrives, in order, both ways at once, with a slow reader on one side.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fastPathCounters } from '../../core/datapath/fast-endpoint.ts';
import { oneCluster, startBalancer } from '../helpers/balancer.ts';
import { closeServer, connect, HOST, portOf, randomBytes, readAll, readSlowly, sha256, withTimeout, writeChunked } from '../helpers/net.ts';

const MiB = 1024 * 1024;

test('a bulk transfer reads into its own buffer, and every byte arrives both ways', async () => {
  const up = randomBytes(24 * MiB);
  const down = randomBytes(24 * MiB);
  let received: Promise<Buffer> | undefined;
  // Half-open allowed: the client's end must not cut the server's own sending short.
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    received = readSlowly(s, 1);
    writeChunked(s, down);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const tb = await startBalancer({ ...oneCluster([`${HOST}:${portOf(server)}`]), dataPath: 'fast' });
  try {
    const before = fastPathCounters.ownBuffers;
    const client = await connect(tb.port, { allowHalfOpen: true });
    const back = readAll(client);
    writeChunked(client, up);
    const [gotDown, gotUp] = await withTimeout(Promise.all([back, (async () => {
      while (!received) await new Promise((r) => setTimeout(r, 5));
      return received;
    })()]), 60_000, 'both transfers');
    assert.is(gotUp.length, up.length, 'client to node: every byte');
    assert.is(sha256(gotUp), sha256(up), 'client to node intact');
    assert.is(sha256(gotDown), sha256(down), 'node to client intact');
    assert.ok(fastPathCounters.ownBuffers >= before + 1, `directions moved to their own buffer: ${fastPathCounters.ownBuffers - before}`);
  } finally {
    await tb.stop();
    await closeServer(server);
  }
});

test.run();
