/**
 * One rotation across the processes of a group: a client's sequential connections go
 * a, b, c, a, b, c… with no node twice in a row, whichever process accepts each
 * (round robin's position is a counter in memory shared by the processes; the rate
 * algorithms count their picks, and break ties, in a ledger the processes share).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import type { Server } from 'node:net';
import { loadConfig, ProcessGroup } from '../../core/index.ts';
import { withBuiltins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { answerFrom, closeServer, startServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const test = suite('one rotation across processes');

// traffic-rate shares connection-rate's ledger, but sends a client to the quietest node by
// bytes, which a one-byte answer makes uneven: no rotation to assert there.
for (const balance of ['round-robin', 'connection-rate']) test(`${balance}: 30 sequential connections through two processes rotate a b c exactly, both processes serving`, async () => {
  const servers: Server[] = [];
  for (const id of ['a', 'b', 'c']) servers.push(await startServer((s) => s.end(id)));
  const port = (s: Server) => (s.address() as { port: number }).port;
  const text = `export default ${JSON.stringify({
    listeners: [{ host: '127.0.0.1', port: 0, cluster: 'web' }],
    clusters: { web: { balance, nodes: ['a', 'b', 'c'].map((id, i) => ({ id, address: `127.0.0.1:${port(servers[i]!)}` })) } },
    workers: 2,
    admin: false,
    stateDir: './state',
  })};\n`;
  const dir = tmpDir({ 'protobalance.config.ts': text });
  const config = await loadConfig(path.join(dir, 'protobalance.config.ts'));
  const logger = recordingLogger();
  const group = new ProcessGroup({ config, logger, ...withBuiltins() });
  const [addr] = await group.start();
  try {
    await withTimeout(group.workersReady, 30_000, 'the worker');
    assert.is(group.serving, 2);
    const seen: string[] = [];
    // Until both processes have served (the kernel picks who accepts), at most 300.
    for (let i = 0; i < 300; i++) {
      seen.push(await answerFrom(addr!.port));
      if (seen.length < 30) continue;
      const byProcess = await group.statusByProcess();
      if (byProcess.every((nodes) => nodes.reduce((t, n) => t + n.totalConnections, 0) > 0)) break;
    }
    const byProcess = await group.statusByProcess();
    const served = byProcess.map((nodes) => nodes.reduce((t, n) => t + n.totalConnections, 0));
    assert.ok(served.every((n) => n > 0), `both processes served: ${served.join(' + ')}`);
    const twice = seen.findIndex((id, i) => i > 0 && id === seen[i - 1]);
    assert.is(twice, -1, `no node twice in a row: ${seen.join(' ')}`);
    const start = ['a', 'b', 'c'].indexOf(seen[0]!);
    assert.equal(seen, seen.map((_, i) => ['a', 'b', 'c'][(start + i) % 3]), 'a b c in turn');
    assert.ok(!logger.lines.some((l) => /rotates in each process on its own/.test(l.msg)), 'memory shared');
  } finally {
    await group.stopAccepting();
    await group.stop(0);
    for (const s of servers) await closeServer(s);
  }
});

test.run();
