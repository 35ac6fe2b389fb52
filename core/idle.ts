/**
 * Idle timeout without a timer per connection or any work per chunk: a sweep, a few times
 * per timeout, compares each connection's byte counters with what it saw last time.
 */
import type { Connection } from './forward.ts';

export class IdleSweeper {
  private timer: NodeJS.Timeout | undefined;
  private every = 0;

  constructor(
    private readonly connections: () => Iterable<Connection>,
    private readonly timeout: () => number,
  ) {}

  /** (Re)start for the current timeout; 0 turns it off. */
  update(): void {
    const timeout = this.timeout();
    const every = timeout > 0 ? Math.max(10, Math.min(1_000, Math.floor(timeout / 4))) : 0;
    if (every === this.every) return;
    this.stop();
    this.every = every;
    if (every === 0) return;
    this.timer = setInterval(() => this.sweep(Date.now()), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.every = 0;
  }

  sweep(now: number): void {
    const timeout = this.timeout();
    if (timeout <= 0) return;
    for (const conn of this.connections()) {
      const bytes = conn.client.bytesRead + conn.client.bytesWritten;
      if (bytes !== conn.idleBytes) {
        conn.idleBytes = bytes;
        conn.idleSince = now;
      } else if (now - conn.idleSince >= timeout) {
        conn.kill(`idle for ${timeout} ms`);
      }
    }
  }
}
