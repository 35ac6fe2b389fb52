/**
 * Fleets on a real redis-server: balancers (process groups, one with a worker) joined
 * with the built-in Redis transport share node states and runtime changes, a member that
 * starts later takes up the stored state, and a Redis outage loses no change.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { FleetSync, loadConfig, ProcessGroup, setLoadFactor, setRoute, type NodeState } from '../../../core/index.ts';
import { redisFleet } from '../../../app/builtins.ts';
import { withBuiltins } from '../../helpers/assembly.ts';
import { recordingLogger } from '../../helpers/balancer.ts';
import { waitFor, withTimeout } from '../../helpers/net.ts';
import { RedisServer } from '../../helpers/redis-server.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const test = suite('fleet: node states and runtime changes shared through Redis');

let redis: RedisServer;
const running: Member[] = [];

interface Member {
  name: string;
  group: ProcessGroup;
  sync: FleetSync;
  logger: ReturnType<typeof recordingLogger>;
  stop(): Promise<void>;
}

async function member(name: string, workers = 1, fleet = 'edge'): Promise<Member> {
  // Workers load the config from its file, as `protobalance start` has them do.
  const text = `export default ${JSON.stringify({
    listeners: [{ name: 'web', host: '127.0.0.1', port: 0, cluster: 'blue' }],
    clusters: {
      blue: { nodes: [{ id: 'a', address: '127.0.0.1:1' }, { id: 'b', address: '127.0.0.1:2' }] },
      green: { nodes: [{ id: 'g', address: '127.0.0.1:3' }] },
    },
    admin: false,
    workers,
    stateDir: './state',
    fleet: { redis: redis.url, name: fleet, member: name },
  })};\n`;
  const dir = tmpDir({ 'protobalance.config.ts': text });
  const config = await loadConfig(path.join(dir, 'protobalance.config.ts'));
  const logger = recordingLogger();
  const group = new ProcessGroup({ config, logger, ...withBuiltins() });
  await group.start();
  await withTimeout(group.workersReady, 30_000, `${name}'s workers`);
  const sync = new FleetSync({ group, transport: redisFleet(config.fleet!), fleet: config.fleet!, logger, announceEveryMs: 200 });
  sync.start();
  const m: Member = {
    name,
    group,
    sync,
    logger,
    async stop() {
      await sync.stop();
      await group.stopAccepting();
      await group.stop(0);
    },
  };
  running.push(m);
  return m;
}

/** Like waitFor, for a check that must ask (status is async). */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The state of `key` in every process of `m`'s group. */
async function statesOf(m: Member, key: string): Promise<NodeState[]> {
  const byProcess = await m.group.statusByProcess();
  return byProcess.map((nodes) => nodes.find((n) => n.key === key)?.state ?? ('?' as NodeState));
}

async function until(m: Member, key: string, state: NodeState, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const states = await statesOf(m, key);
    if (states.every((s) => s === state)) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${m.name} has ${key} ${states.join(', ')}, not ${state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.before(async () => {
  redis = await RedisServer.start();
});
test.after.each(async () => {
  for (const m of running.splice(0)) await m.stop();
  if (!redis.running) await redis.restart();
  const r = redis.client();
  await r.flushall();
  r.disconnect();
});
test.after(async () => {
  await redis.kill();
});

test('a Yellow, a factor and a route made on one balancer reach the other, in every process', async () => {
  const a = await member('a');
  const b = await member('b', 2);
  await eventually(async () => (await b.sync.status()).version > 0, 5_000, 'B joined');
  await a.group.setNodeState('blue/a', 'yellow');
  await until(b, 'blue/a', 'yellow', 'Yellow through A');
  await a.group.change((base) => setLoadFactor(base, 'blue/b', 3));
  await waitFor(() => b.group.balancer.runtimeChanges().factors['blue/b']?.factor === 3, 5_000, 'the factor on B');
  await b.group.change((base) => setRoute(base, 'web', 'green'));
  await waitFor(() => a.group.generation.routes.get('web') === 'green', 5_000, 'the route on A');
  // Back to green from B, and A has it.
  await b.group.setNodeState('blue/a', 'green');
  await until(a, 'blue/a', 'green', 'Green through B');
  assert.equal(a.group.balancer.runtimeChanges(), b.group.balancer.runtimeChanges());
});

test('a change taken from the fleet is not published again (one version per change)', async () => {
  const a = await member('a');
  const b = await member('b');
  await eventually(async () => (await a.sync.status()).version > 0 && (await b.sync.status()).version > 0, 5_000, 'both joined');
  const before = (await a.sync.status()).version;
  await a.group.setNodeState('blue/b', 'red');
  await until(b, 'blue/b', 'red', 'Red through A');
  await new Promise((r) => setTimeout(r, 300));
  const r = redis.client();
  const version = Number(await r.get('pb:fleet:edge:version'));
  r.disconnect();
  assert.is(version, before + 1, 'B took the change and published nothing');
  assert.is((await b.sync.status()).version, version);
});

test('a balancer that starts later takes up the last state; status lists the members', async () => {
  const a = await member('a');
  await a.group.setNodeState('blue/b', 'yellow');
  await a.group.change((base) => setLoadFactor(base, 'blue/a', 2));
  const late = await member('late');
  await until(late, 'blue/b', 'yellow', 'the stored Yellow');
  await waitFor(() => late.group.balancer.runtimeChanges().factors['blue/a']?.factor === 2, 5_000, 'the stored factor');
  await eventually(async () => (await late.sync.status()).members.length === 2, 5_000, 'two members listed');
  const s = await late.sync.status();
  assert.equal(s.members.map((m) => [m.member, m.self]), [['a', false], ['late', true]]);
  assert.is(s.link, 'up');
  assert.is(s.name, 'edge');
  await a.stop();
  running.splice(running.indexOf(a), 1);
  await eventually(async () => (await late.sync.status()).members.length === 1, 5_000, 'a left the list');
});

test('Redis killed: a change made meanwhile holds locally and reaches the fleet once Redis is back', async () => {
  const a = await member('a');
  const b = await member('b');
  await eventually(async () => (await b.sync.status()).version > 0, 5_000, 'joined');
  await redis.kill();
  await eventually(async () => (await a.sync.status()).link === 'down', 5_000, 'A sees Redis down');
  await a.group.setNodeState('blue/a', 'yellow');
  await until(a, 'blue/a', 'yellow', 'the change holds on A');
  const held = await a.sync.status();
  assert.is(held.unpublished, true, 'status says the change waits');
  assert.equal(await statesOf(b, 'blue/a'), ['green'], 'B cannot know yet');
  assert.ok(a.logger.lines.some((l) => /Redis unreachable/.test(l.msg)), 'the outage is logged');
  // Redis comes back empty (no persistence): A's change still wins over B's older state.
  await redis.restart();
  await until(b, 'blue/a', 'yellow', 'after Redis came back');
  await eventually(async () => !(await a.sync.status()).unpublished, 5_000, 'published');
  assert.ok(a.logger.lines.some((l) => /Redis reachable again/.test(l.msg)));
});

test('news lost while a subscriber reconnects: the state is still taken up, from the stored one', async () => {
  const a = await member('a');
  const b = await member('b');
  await eventually(async () => (await b.sync.status()).version > 0 && (await a.sync.status()).version > 0, 5_000, 'joined');
  const r = redis.client();
  try {
    // Every subscriber is cut off; A's news goes out before they are back.
    await r.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await a.group.setNodeState('blue/b', 'red');
  } finally {
    r.disconnect();
  }
  await until(b, 'blue/b', 'red', 'B catches up from the stored state');
});

test('two balancers under one member name: each is told', async () => {
  const a = await member('same');
  const b = await member('same');
  const told = (m: Member) => m.logger.lines.some((l) => /another balancer announces itself under this member name/.test(l.msg));
  await eventually(async () => told(a) || told(b), 5_000, 'a warning');
  // Both keep working as members of the fleet.
  await a.group.setNodeState('blue/a', 'red');
  await until(b, 'blue/a', 'red', 'the change still reaches the other');
});

test('fleets with other names do not hear each other', async () => {
  const a = await member('a', 1, 'east');
  const b = await member('b', 1, 'west');
  await eventually(async () => (await b.sync.status()).version > 0, 5_000, 'joined');
  await a.group.setNodeState('blue/a', 'red');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await statesOf(b, 'blue/a'), ['green']);
});

test.run();
