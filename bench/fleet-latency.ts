/**
 * How long a node state change made on one balancer of a fleet takes to be in force on
 * another: two process groups (one process each) joined through a real redis-server, the
 * state of one node toggled yellow / green on A `rounds` times; each time, from A's call to
 * B having applied it (B's change listener, after every B process has it). The reference,
 * in the same run: one PUBLISH from one Redis connection heard on another, the floor any
 * Redis-based sharing pays. Figures are medians; the ratio is to that floor.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { FleetSync, loadConfig, ProcessGroup } from '../core/index.ts';
import { silentLogger } from '../core/logger.ts';
import { redisFleet, workerEntry, builtinPlugins } from '../app/builtins.ts';
import { findRedisServer, startRedisServer } from './redis-server.ts';

export const FLEET_HEADING = '## Fleet: a state change from one balancer to another';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function member(name: string, url: string, dir: string) {
  const file = path.join(dir, `${name}.config.ts`);
  writeFileSync(
    file,
    `export default ${JSON.stringify({
      listeners: [{ host: '127.0.0.1', port: 0, cluster: 'web' }],
      clusters: { web: { nodes: [{ id: 'a', address: '127.0.0.1:1' }, { id: 'b', address: '127.0.0.1:2' }] } },
      admin: false,
      workers: 1,
      stateDir: `./state-${name}`,
      fleet: { redis: url, name: 'bench', member: name },
    })};\n`,
  );
  const config = await loadConfig(file);
  const logger = silentLogger;
  const group = new ProcessGroup({ config, logger, workerEntry, balancer: { builtins: builtinPlugins() } });
  await group.start();
  const sync = new FleetSync({ group, transport: redisFleet(config.fleet!), fleet: config.fleet!, logger });
  sync.start();
  return { group, sync };
}

/** Median ms of one PUBLISH heard on another connection. */
async function pubSubFloor(url: string, rounds: number): Promise<number> {
  const pub = new Redis(url);
  const sub = new Redis(url);
  await sub.subscribe('bench:floor');
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const heard = new Promise<void>((r) => sub.once('message', () => r()));
    const t0 = performance.now();
    await pub.publish('bench:floor', String(i));
    await heard;
    times.push(performance.now() - t0);
  }
  pub.disconnect();
  sub.disconnect();
  return median(times);
}

export async function fleetSection(options: { rounds?: number; log: (line: string) => void }): Promise<{ section: string; medianMs?: number }> {
  const rounds = options.rounds ?? 20;
  const found = findRedisServer();
  if (!found) return { section: `${FLEET_HEADING}\n\nSkipped: redis-server is not installed.` };
  const redis = await startRedisServer(found.file, found.version);
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-bench-fleet-'));
  const a = await member('a', redis.url, dir);
  const b = await member('b', redis.url, dir);
  try {
    // Both joined (each has taken or made the fleet's first state).
    for (let i = 0; i < 250 && ((await a.sync.status()).version === 0 || (await b.sync.status()).version === 0); i++) await sleep(20);
    const times: number[] = [];
    /** The change on A alone (saved in its state folder, in force there). */
    const local: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const state = i % 2 === 0 ? 'yellow' : 'green';
      const applied = new Promise<void>((resolve) => {
        const check = () => (b.group.balancer.node('web/a')?.state === state ? resolve() : setImmediate(check));
        check();
      });
      const t0 = performance.now();
      await a.group.setNodeState('web/a', state);
      local.push(performance.now() - t0);
      await applied;
      times.push(performance.now() - t0);
      await sleep(20);
    }
    const floor = await pubSubFloor(redis.url, rounds);
    const ms = median(times);
    const lines = [
      FLEET_HEADING,
      '',
      `Two balancers (one process each) joined by a redis-server ${redis.version} on 127.0.0.1; node web/a set yellow / green on A ${rounds} times.`,
      '',
      '| measure | median | ratio to the pub/sub floor |',
      '|---|---|---|',
      `| state change on A in force on B | ${ms.toFixed(2)} ms | ${(ms / floor).toFixed(1)}× |`,
      `| the same change on A alone (in force and saved there) | ${median(local).toFixed(2)} ms | ${(median(local) / floor).toFixed(1)}× |`,
      `| one Redis PUBLISH heard by another connection (floor) | ${floor.toFixed(2)} ms | 1.0× |`,
      '',
      `Slowest of the ${rounds}: ${Math.max(...times).toFixed(2)} ms.`,
    ];
    return { section: lines.join('\n'), medianMs: ms };
  } finally {
    await a.sync.stop();
    await b.sync.stop();
    await a.group.stop(0);
    await b.group.stop(0);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await fleetSection({ log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${r.section}\n`);
  process.exit(0);
}
