/**
 * Where the Redis affinity store keeps bindings, and how a balancer that starts reads what
 * its twins stored: `pb:aff:<cluster>:<client>` keys holding the node id, which Redis
 * expires itself `ttl` after the client was last seen; news on channel `pb:aff:<cluster>`.
 */
import type { Redis } from 'ioredis';

export interface Binding {
  node: string;
  /** Epoch ms the client was last seen. */
  seen: number;
  /** Epoch ms this balancer last wrote it to Redis (its TTL runs from there). */
  written?: number;
}

export const keyOf = (cluster: string, client: string) => `pb:aff:${cluster}:${client}`;
export const channelOf = (cluster: string) => `pb:aff:${cluster}`;

/** When a key with `left` ms to live (-1: no expiry) was last written: its `ttl` ran from there. */
export const seenFrom = (left: number, ttl: number, now: number): number => (left < 0 ? now : now - Math.max(0, ttl - left));

/**
 * Up to `most` of `cluster`'s stored bindings, least recently seen first.
 */
export async function storedBindings(redis: Redis, cluster: string, ttl: number, most: number, now: number): Promise<[client: string, binding: Binding][]> {
  const prefix = keyOf(cluster, '');
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0' && keys.length < most);
  const pipe = redis.pipeline();
  for (const key of keys.slice(0, most)) pipe.get(key).pttl(key);
  const results = (await pipe.exec()) ?? [];
  const found: [string, Binding][] = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const node = results[i]![1];
    const left = results[i + 1]![1];
    if (typeof node !== 'string' || typeof left !== 'number') continue;
    found.push([keys[i / 2]!.slice(prefix.length), { node, seen: seenFrom(left, ttl, now) }]);
  }
  return found.sort((x, y) => x[1].seen - y[1].seen);
}
