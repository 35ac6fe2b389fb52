/**
 * The admin API on a cluster whose bindings live in Redis (set once by the top-level
 * `affinity.store`): status says where and whether it works, a binding is looked up and
 * forgotten there (the key goes from Redis), and a cluster that says 'sqlite' stays local.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Server } from 'node:net';
import { startControlled } from '../../helpers/admin.ts';
import { answerFrom, closeServer, startServer } from '../../helpers/net.ts';
import { RedisServer } from '../../helpers/redis-server.ts';

const test = suite('affinity on Redis through the admin API');
let redis: RedisServer;
let node: Server;

test.before(async () => {
  redis = await RedisServer.start();
  node = await startServer((s) => s.end('node n1\n'));
});
test.after(async () => {
  await closeServer(node);
  await redis.kill();
});

test('status, lookup and forget reach the Redis store; a sqlite cluster stays local', async () => {
  const port = (node.address() as { port: number }).port;
  const c = await startControlled(`export default {
    listeners: [{ name: 'web', host: '127.0.0.1', port: 0, cluster: 'web' }, { name: 'local', host: '127.0.0.1', port: 0, cluster: 'local' }],
    clusters: {
      web: { affinity: { enabled: true }, nodes: [{ id: 'n1', address: '127.0.0.1:${port}' }] },
      local: { affinity: { store: 'sqlite' }, nodes: [{ id: 'n1', address: '127.0.0.1:${port}' }] },
    },
    affinity: { store: '${redis.url}', ttl: '1h' },
    workers: 1,
    stateDir: './state',
  };\n`);
  try {
    const at = c.group.balancer.addresses();
    const webPort = at.find((a) => a.listener === 'web')!.port;
    const localPort = at.find((a) => a.listener === 'local')!.port;
    assert.is(await answerFrom(webPort, '127.0.0.31'), 'node n1\n');
    assert.is(await answerFrom(localPort, '127.0.0.31'), 'node n1\n');

    const status = await c.call('GET', '/status');
    const clusters = status.body.clusters as { name: string; affinity: Record<string, unknown> }[];
    const web = clusters.find((x) => x.name === 'web')!.affinity;
    assert.is(web.store, 'redis');
    assert.is(web.url, redis.url);
    assert.is(web.state, 'up');
    assert.is(clusters.find((x) => x.name === 'local')!.affinity.store, 'sqlite');

    // The binding is written behind (50 ms batches): in Redis with its TTL, and looked up.
    const r = redis.client();
    try {
      let ttl = -2;
      for (let i = 0; i < 100 && ttl <= 0; i++) {
        ttl = await r.pttl('pb:aff:web:127.0.0.31');
        if (ttl <= 0) await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(ttl > 0 && ttl <= 3_600_000, `PTTL ${ttl}`);
      assert.is(await r.exists('pb:aff:local:127.0.0.31'), 0, 'the sqlite cluster writes nothing to Redis');
      const found = await c.call('GET', '/affinity/web/127.0.0.31');
      assert.equal(found.body, { cluster: 'web', client: '127.0.0.31', node: 'n1' });

      const forgot = await c.call('DELETE', '/affinity/web/127.0.0.31');
      assert.is(forgot.status, 200, JSON.stringify(forgot.body));
      assert.is((await c.call('GET', '/affinity/web/127.0.0.31')).status, 404);
      let exists = 1;
      for (let i = 0; i < 100 && exists === 1; i++) {
        exists = await r.exists('pb:aff:web:127.0.0.31');
        if (exists === 1) await new Promise((res) => setTimeout(res, 20));
      }
      assert.is(exists, 0, 'forgotten in Redis too');
      assert.is((await c.call('DELETE', '/affinity/web/127.0.0.99')).status, 404);
    } finally {
      r.disconnect();
    }

    // Redis down: status says so, and clients are still served.
    await redis.kill();
    let state = '';
    for (let i = 0; i < 150 && state !== 'down'; i++) {
      const s = await c.call('GET', '/status');
      state = String((s.body.clusters as { name: string; affinity: { state: string } }[]).find((x) => x.name === 'web')!.affinity.state);
      if (state !== 'down') await new Promise((res) => setTimeout(res, 20));
    }
    assert.is(state, 'down');
    assert.is(await answerFrom(webPort, '127.0.0.32'), 'node n1\n');
    await redis.restart();
  } finally {
    await c.stop();
  }
});

test.run();
