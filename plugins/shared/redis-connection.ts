/**
 * How every Redis user of the built-ins connects: commands fail at once while Redis is
 * down (the callers keep what matters in memory and retry), and ioredis reconnects with a
 * backoff of 200 ms doubling up to 3 s, forever.
 */
import { Redis, type RedisOptions } from 'ioredis';

const COMMON: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
};

/**
 * A connection to `url`. A subscriber keeps its offline queue: a SUBSCRIBE made before
 * the first connection is sent once it is up (ioredis subscribes again after a reconnect).
 */
export function openRedis(url: string, role: 'commands' | 'subscriber' = 'commands'): Redis {
  return new Redis(url, { ...COMMON, enableOfflineQueue: role === 'subscriber' });
}

/** `url` as logs and status show it: the password masked. */
export function redactRedisUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  // ioredis also takes the password as a query parameter.
  for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, '***');
  return u.toString().replace(/%2A%2A%2A/g, '***');
}
