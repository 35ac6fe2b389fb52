import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createBalancer } from '../../core/index.ts';
import { watchConfig, watchedFiles, type ReloadOutcome } from '../../core/watch.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, connect, roundTrip, startEchoServer, waitFor } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { builtinPlugins } from '../helpers/assembly.ts';

const prefer = (id: string) =>
  `import { definePolicy } from 'protobalance';\nexport default definePolicy({ name: 'prefer', rate: (n) => (n.id === '${id}' ? 0 : 10) });\n`;

const configText = (a: string, b: string, balance = 'policy:./policies/prefer.ts') => `export default {
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { balance: '${balance}', nodes: [{ id: 'a', address: '${a}' }, { id: 'b', address: '${b}' }] } },
  log: { level: 'silent' },
};
`;

const hot = suite('hot reload: edits take effect without a restart');

hot('policy edits, a broken policy, config edits and a broken config', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const dir = tmpDir({ 'policies/prefer.ts': prefer('a'), 'protobalance.config.ts': configText(addr(a), addr(b)) });
  const configFile = path.join(dir, 'protobalance.config.ts');
  const policyFile = path.join(dir, 'policies/prefer.ts');
  const { readConfigFile } = await import('../../core/index.ts');
  const { raw } = await readConfigFile(configFile);
  const logger = recordingLogger();
  const balancer = createBalancer(raw as never, { logger, source: configFile, builtins: builtinPlugins() });
  const [listening] = await balancer.start();
  const port = listening!.port;
  const outcomes: ReloadOutcome[] = [];
  const watcher = watchConfig(balancer, { logger, debounceMs: 50, onReload: (o) => void outcomes.push(o) });
  await watcher.ready;
  /** The first reload outcome after the `from`-th that satisfies `pred` (editors and fs events may fire twice). */
  const outcome = async (from: number, pred: (o: ReloadOutcome) => boolean, what: string): Promise<ReloadOutcome> => {
    await waitFor(() => outcomes.slice(from).some(pred), 10_000, what);
    return outcomes.slice(from).find(pred)!;
  };
  const served = async () => {
    const before = [a.connections, b.connections];
    assert.is(await roundTrip(port, 'ping'), 'ping');
    return a.connections > before[0]! ? 'a' : 'b';
  };
  try {
    assert.equal(watchedFiles(balancer.generation.config).sort(), [configFile, policyFile].sort());
    assert.is(await served(), 'a');
    const open = await connect(port); // an open connection, on a, must live through every reload
    open.on('data', () => {});

    // 1. Edit the policy: new connections follow the new rule.
    const saved = Date.now();
    let from = outcomes.length;
    writeFileSync(policyFile, prefer('b'));
    const first = await outcome(from, (o) => o.ok, 'the policy reload');
    assert.is(await served(), 'b');
    if (process.env.PB_FIGURES) console.log(`  save to effect: ${Date.now() - saved} ms (rebuild ${first.ms} ms)`);

    // 2. Break the policy: the error names file and line, and the old rule keeps serving.
    from = outcomes.length;
    writeFileSync(policyFile, `export default { name: 'broken', rate(n) { return n. ; } };\n`);
    const broken = await outcome(from, (o) => !o.ok, 'the failed reload');
    assert.match(broken.error!, /policies\/prefer\.ts:1:\d+: /);
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.msg.startsWith('reload failed')));
    assert.is(await served(), 'b');

    // 3. Fix it, then edit the config itself (swap the addresses).
    from = outcomes.length;
    writeFileSync(policyFile, prefer('a'));
    await outcome(from, (o) => o.ok, 'the fixed policy');
    from = outcomes.length;
    const generation = balancer.generation.id;
    writeFileSync(configFile, configText(addr(b), addr(a)));
    await outcome(from, (o) => o.ok && o.generation > generation, 'the config reload');
    assert.is(await served(), 'b', 'node id a now has b\'s address');

    // 4. A config that fails validation keeps the last good one.
    from = outcomes.length;
    const good = balancer.generation.id;
    writeFileSync(configFile, configText(addr(a), '10.0.0.2:99999'));
    const bad = await outcome(from, (o) => !o.ok, 'the bad config');
    assert.match(bad.error!, /clusters\.c\.nodes\[1\]\.address: expected "host:port", got "10\.0\.0\.2:99999"/);
    assert.is(await served(), 'b');
    assert.is(balancer.generation.id, good, 'the last good generation serves');

    // The connection opened at the start still works.
    const echoed = new Promise<string>((resolve) => open.once('data', (d) => resolve(d.toString())));
    open.write('still');
    assert.is(await echoed, 'still');
    open.end();
  } finally {
    await watcher.close();
    await balancer.stop(100);
    await closeServer(a);
    await closeServer(b);
  }
});

hot('a local plugin file is watched and reloaded fresh', async () => {
  const a = await startEchoServer();
  const plugin = (limit: number) =>
    `export default { name: 'cap', apply(hooks) { let n = 0; hooks.accept.tap('cap', () => (++n > ${limit} ? 'over the cap' : undefined)); } };\n`;
  const dir = tmpDir({
    'cap.mjs': plugin(1),
    'protobalance.config.json': JSON.stringify({
      listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
      clusters: { c: { nodes: [{ id: 'a', address: addr(a) }] } },
      plugins: ['./cap.mjs'],
    }),
  });
  const configFile = path.join(dir, 'protobalance.config.json');
  const { readConfigFile } = await import('../../core/index.ts');
  const logger = recordingLogger();
  const balancer = createBalancer((await readConfigFile(configFile)).raw as never, { logger, source: configFile, builtins: builtinPlugins() });
  const [listening] = await balancer.start();
  const outcomes: ReloadOutcome[] = [];
  const watcher = watchConfig(balancer, { logger, debounceMs: 50, onReload: (o) => void outcomes.push(o) });
  await watcher.ready;
  try {
    assert.ok(watchedFiles(balancer.generation.config).includes(path.join(dir, 'cap.mjs')));
    assert.is(await roundTrip(listening!.port, 'one'), 'one');
    assert.is(await roundTrip(listening!.port, 'two'), '', 'the second client is refused by the cap of 1');
    writeFileSync(path.join(dir, 'cap.mjs'), plugin(3));
    await waitFor(() => outcomes.some((o) => o.ok), 10_000, 'the plugin reload');
    for (const text of ['x', 'y', 'z']) assert.is(await roundTrip(listening!.port, text), text, 'the new cap of 3 (counted afresh)');
  } finally {
    await watcher.close();
    await balancer.stop(100);
    await closeServer(a);
  }
});

hot('saves that replace the file (write a new one, rename it over: editors, sed -i) keep being seen, even two at once', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const dir = tmpDir({ 'protobalance.config.ts': configText(addr(a), addr(b), 'round-robin') });
  const configFile = path.join(dir, 'protobalance.config.ts');
  const { readConfigFile } = await import('../../core/index.ts');
  const logger = recordingLogger();
  const balancer = createBalancer((await readConfigFile(configFile)).raw as never, { logger, source: configFile, builtins: builtinPlugins() });
  await balancer.start();
  const outcomes: ReloadOutcome[] = [];
  const watcher = watchConfig(balancer, { logger, debounceMs: 50, onReload: (o) => void outcomes.push(o) });
  await watcher.ready;
  let saves = 0;
  const atomicSave = () => {
    const temp = path.join(dir, `.protobalance.config.ts.${++saves}.tmp`);
    writeFileSync(temp, `${configText(addr(a), addr(b), 'round-robin')}// save ${saves}\n`);
    renameSync(temp, configFile);
  };
  try {
    atomicSave();
    atomicSave();
    await waitFor(() => outcomes.some((o) => o.ok), 10_000, 'the reload after two saves at once');
    for (let i = 0; i < 3; i++) {
      const from = outcomes.length;
      await new Promise((r) => setTimeout(r, 200));
      atomicSave();
      await waitFor(() => outcomes.length > from, 10_000, `the reload after save ${saves} (one of three spaced saves)`);
      assert.ok(outcomes[from]!.ok, JSON.stringify(outcomes[from]));
    }
  } finally {
    await watcher.close();
    await balancer.stop(100);
    await closeServer(a);
    await closeServer(b);
  }
});

hot.run();
