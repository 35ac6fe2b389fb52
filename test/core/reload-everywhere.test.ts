/**
 * A reload or runtime change is applied by every process or by none: the primary applies
 * it first (a bad config stops there), then each worker; a slow worker is waited for and
 * said to be slow (not failed), and one that cannot take the new generation is restarted
 * on it. Status shows the generation each process serves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ProcessGroup, readConfigFile, loadConfig, type Config } from '../../core/index.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, roundTrip, startEchoServer, waitFor, withTimeout } from '../helpers/net.ts';
import { withBuiltins } from '../helpers/assembly.ts';

/** A plugin that, in workers, is slow (1.5 s) or fails once at init, as the file `marker` says. */
const PLUGIN = `
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export default {
  name: 'marker',
  apply(hooks, api) {
    hooks.init.tapPromise('marker', async () => {
      const marker = fileURLToPath(new URL('./marker', import.meta.url));
      if (api.role !== 'worker' || !existsSync(marker)) return;
      const what = readFileSync(marker, 'utf8');
      if (what === 'fail') { rmSync(marker); throw new Error('this worker refuses the generation'); }
      if (what === 'slow') await new Promise((r) => setTimeout(r, 1500));
    });
  },
};`;

const config = (node: string, connectTimeout: string) => `export default {
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'a', address: '${node}' }] } },
  plugins: ['./marker-plugin.mjs'],
  connectTimeout: '${connectTimeout}',
  workers: 2,
  admin: false,
};`;

async function group(dir: string, node: string) {
  const file = path.join(dir, 'protobalance.config.mjs');
  writeFileSync(path.join(dir, 'marker-plugin.mjs'), PLUGIN);
  writeFileSync(file, config(node, '2s'));
  const logger = recordingLogger();
  const g = new ProcessGroup({ config: await loadConfig(file), logger, applyTimes: { slowMs: 500, maxMs: 10_000 }, ...withBuiltins() });
  const [listening] = await g.start();
  await withTimeout(g.workersReady, 30_000, 'the worker');
  const reload = async (connectTimeout: string) => {
    writeFileSync(file, config(node, connectTimeout));
    await g.reload((await readConfigFile(file)).raw as Config);
  };
  const generations = async () => (await g.snapshotByProcess()).map((s) => s.generation);
  return { g, port: listening!.port, logger, reload, generations, marker: path.join(dir, 'marker') };
}

const everywhere = suite('reload: every process or none');

everywhere('a slow worker is waited for and reported slow; every process ends on the new generation', async () => {
  const echo = await startEchoServer();
  const t = await group(tmpDir(), addr(echo));
  try {
    assert.equal(await t.generations(), [1, 1]);
    writeFileSync(t.marker, 'slow');
    await t.reload('3s');
    assert.equal(await t.generations(), [2, 2], 'the worker took it too');
    assert.ok(t.logger.lines.some((l) => l.msg === 'a worker is still applying the change: slow, not failed'), 'said slow');
    assert.not.ok(t.logger.lines.some((l) => l.level === 'error'), 'nothing called a failure');
    assert.is(await roundTrip(t.port, 'after'), 'after');
  } finally {
    await t.g.stop(200);
    await closeServer(echo);
  }
});

everywhere('a worker that cannot take the generation is restarted on it, and serves it', async () => {
  const echo = await startEchoServer();
  const t = await group(tmpDir(), addr(echo));
  try {
    writeFileSync(t.marker, 'fail');
    await t.reload('4s');
    assert.ok(t.logger.lines.some((l) => l.msg === 'a worker could not take the new config; restarting it on it'));
    // The old worker is gone at once; its replacement starts on the primary's generation.
    await waitFor(() => t.g.serving === 2, 20_000, 'the restarted worker');
    assert.equal(await t.generations(), [2, 2]);
    assert.is(await roundTrip(t.port, 'after'), 'after');
  } finally {
    await t.g.stop(200);
    await closeServer(echo);
  }
});

everywhere('a config the primary refuses changes no process', async () => {
  const echo = await startEchoServer();
  const dir = tmpDir();
  const t = await group(dir, addr(echo));
  try {
    writeFileSync(path.join(dir, 'protobalance.config.mjs'), config(addr(echo), 'soon'));
    const err = await t.g.reload((await readConfigFile(path.join(dir, 'protobalance.config.mjs'))).raw as Config).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'refused');
    assert.equal(await t.generations(), [1, 1]);
  } finally {
    await t.g.stop(200);
    await closeServer(echo);
  }
});

everywhere.run();
