/**
 * Lookups of clients the Redis store's memory missed, for their next connection (a twin
 * may have bound them). Misses are gathered and sent in one pipeline on the next turn of
 * the event loop: a socket write per miss would cost the forwarding path tens of µs per
 * new client (measured by bench/affinity-stores.ts). At most `max` keys are in flight;
 * past that a miss is not looked up, and nothing waits while Redis is down.
 */
import type { Redis } from 'ioredis';
import { keyOf } from './redis-keys.ts';

/** Told of each binding found: its node and the ms it has left to live (-1: no expiry). */
export type FoundBinding = (cluster: string, client: string, node: string, left: number) => void;

export class MissLookups {
  private readonly wanted = new Map<string, { cluster: string; client: string; sent: boolean }>();
  private timer: NodeJS.Immediate | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly max: number,
    private readonly found: FoundBinding,
  ) {}

  fetch(cluster: string, client: string): void {
    const key = keyOf(cluster, client);
    if (this.wanted.has(key) || this.wanted.size >= this.max || this.redis.status !== 'ready') return;
    this.wanted.set(key, { cluster, client, sent: false });
    this.timer ??= setImmediate(() => this.send());
  }

  close(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }

  private send(): void {
    this.timer = undefined;
    const batch = [...this.wanted].filter(([, w]) => !w.sent);
    if (batch.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const [key, w] of batch) {
      w.sent = true;
      pipe.get(key).pttl(key);
    }
    pipe
      .exec()
      .then(
        (results) =>
          batch.forEach(([, w], i) => {
            const node = results?.[2 * i]?.[1];
            const left = results?.[2 * i + 1]?.[1];
            if (typeof node === 'string' && typeof left === 'number') this.found(w.cluster, w.client, node, left);
          }),
        () => {},
      )
      .finally(() => {
        for (const [key] of batch) this.wanted.delete(key);
      });
  }
}
