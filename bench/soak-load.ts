/**
 * The soak's load: `concurrency` loops, each doing connect → write 1-16 KB → read it back
 * → close, over and over, through the balancer to the echo backends (bench/soak-backends.ts).
 * Most connections close cleanly after the echo; some half-close right after writing and
 * read the echo until the backend ends; some are destroyed abruptly mid-stream.
 * Beside them, a pool of long-lived connections (bench/soak-long.ts) that exchange a short
 * message every ~500 ms and stay open until a Red node kills them, then reconnect.
 *
 * Every failure is classified: a connection open while its node was set to Red is
 * expected to die (the balancer kills those on purpose); anything else is unexpected.
 * The load can be paused (no new connections, the open ones finish, the long-lived ones
 * close gracefully) for quiet sampling; unpaused, the long-lived ones reopen.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LongConnection, type LongEnd } from './soak-long.ts';

const NODES = 3;
const MIN_BYTES = 1024;
const MAX_BYTES = 16 * 1024;
/** A connection that has not finished in this long counts as an unexpected `timeout`. */
const CONNECTION_TIMEOUT_MS = 15_000;
/** Slack after a Red command's answer within which a failure still counts as its doing. */
const RED_SLACK_MS = 1_000;
/** Random bytes the payloads are slices of, so a mixed-up echo is caught by comparison. */
const POOL = randomBytes(256 * 1024);

type Mode = 'close' | 'half-close' | 'abort';

/** Pause after a long-lived connection failed, before it reconnects (no hot loop if all fail). */
const LONG_RETRY_MS = 100;

/** When each node was set to Red: connections to it that were open then may be killed. */
export class RedLog {
  /** `from`: Red command sent; `to`: its answer + slack; `until`: the command that took the node out of Red answered. */
  private readonly events: { node: number; from: number; to: number; until: number }[] = [];

  /** Call just before sending the Red command; call the returned function once it is done. */
  begin(node: number): () => void {
    const e = { node, from: performance.now(), to: Infinity, until: Infinity };
    this.events.push(e);
    return () => {
      e.to = performance.now() + RED_SLACK_MS;
    };
  }

  /** Call once a command that takes `node` out of Red (to green or yellow) has been answered. */
  left(node: number): void {
    const now = performance.now();
    for (const e of this.events) if (e.node === node && e.until === Infinity) e.until = now;
  }

  /** Did a Red of `node` (any node when unknown) happen while [start, end] was open? */
  explains(node: number | undefined, start: number, end: number): boolean {
    return this.events.some((e) => (node === undefined || e.node === node) && start <= e.to && end >= e.from);
  }

  /** Was `node` Red at `at`: after its Red command was sent, before the one ending it was answered? */
  isRed(node: number, at: number): boolean {
    return this.events.some((e) => e.node === node && at >= e.from && at <= e.until);
  }
}

export interface LoadCounts {
  /** Connections finished (whatever the outcome). */
  connections: number;
  /** Echo complete and verified: closed after reading, or half-closed first. */
  ok: number;
  halfClosedOk: number;
  /** Destroyed mid-stream by the client on purpose. */
  aborted: number;
  /** Failed while their node was set to Red. */
  killedByRed: number;
  unexpected: number;
  unexpectedKinds: Record<string, number>;
  bytesSent: number;
  bytesReceived: number;
  /** Connections that reached node 1, 2, 3 (from the backend's name byte), long-lived ones included. */
  perNode: number[];
  /** The long-lived pool (its kills and unexpected ends are also in the totals above). */
  long: LongCounts;
}

export interface LongCounts {
  /** Connections opened (each reconnect is a new one). */
  opened: number;
  /** Echoes of the short messages received and verified. */
  exchanges: number;
  /** Closed by the client on purpose (before a quiet sample, at the end), the backend's end received. */
  closed: number;
  /** Ended while their node was Red. */
  killedByRed: number;
  /** How those kills looked to the client (`ended-by-peer`, `ECONNRESET`, …). */
  killedHow: Record<string, number>;
  unexpected: number;
}

export class Load {
  readonly counts: LoadCounts = {
    connections: 0,
    ok: 0,
    halfClosedOk: 0,
    aborted: 0,
    killedByRed: 0,
    unexpected: 0,
    unexpectedKinds: {},
    bytesSent: 0,
    bytesReceived: 0,
    perNode: Array.from({ length: NODES }, () => 0),
    long: { opened: 0, exchanges: 0, closed: 0, killedByRed: 0, killedHow: {}, unexpected: 0 },
  };
  /** A few unexpected failures in full, for the report. */
  readonly unexpectedSamples: string[] = [];
  private paused = false;
  private stopped = false;
  private resume: () => void = () => {};
  private resumed: Promise<void> = Promise.resolve();
  private idleWaiters: (() => void)[] = [];
  private busy = 0;
  private loops: Promise<void>[] = [];
  /** The long-lived connections open now. */
  private readonly longOpen = new Set<LongConnection>();

  constructor(
    private readonly port: number,
    private readonly concurrency: number,
    private readonly red: RedLog,
    /** Size of the long-lived pool. */
    private readonly longCount: number,
  ) {}

  start(): void {
    this.loops = [...Array.from({ length: this.concurrency }, () => this.loop()), ...Array.from({ length: this.longCount }, () => this.longLoop())];
  }

  /** Start no new connection, close the long-lived ones gracefully; resolves when all have finished. */
  pause(): Promise<void> {
    this.paused = true;
    this.resumed = new Promise((r) => (this.resume = r));
    for (const conn of this.longOpen) conn.close();
    return this.idle();
  }

  unpause(): void {
    this.paused = false;
    this.resume();
  }

  /** End the loops for good; resolves when the last connection has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const conn of this.longOpen) conn.close();
    this.unpause();
    await Promise.all(this.loops);
  }

  private idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await this.resumed;
        continue;
      }
      this.busy++;
      try {
        await this.once();
      } finally {
        if (--this.busy === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  /** One slot of the long-lived pool: a connection open until closed or killed, then the next. */
  private async longLoop(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await this.resumed;
        continue;
      }
      // No await between the check above and adding to longOpen: a pause or stop sees every connection.
      const conn = new LongConnection(this.port, {
        sent: (n) => (this.counts.bytesSent += n),
        received: (n) => (this.counts.bytesReceived += n),
        exchange: () => this.counts.long.exchanges++,
      });
      this.longOpen.add(conn);
      this.counts.long.opened++;
      this.busy++;
      let end: LongEnd;
      try {
        end = await conn.ended;
      } finally {
        this.longOpen.delete(conn);
        if (--this.busy === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
      this.recordLong(end);
      if (end.outcome === 'failed' && !this.stopped) await sleep(LONG_RETRY_MS);
    }
  }

  private recordLong(end: LongEnd): void {
    const c = this.counts;
    if (end.node !== undefined) c.perNode[end.node - 1]!++;
    if (end.outcome === 'closed') {
      c.long.closed++;
      return;
    }
    // Expected when its node was Red at this moment; with the node unknown (killed before
    // the name byte arrived), when some node was set to Red while it was open.
    const now = performance.now();
    if (end.node !== undefined ? this.red.isRed(end.node, now) : this.red.explains(undefined, end.opened, now)) {
      c.killedByRed++;
      c.long.killedByRed++;
      c.long.killedHow[end.fail] = (c.long.killedHow[end.fail] ?? 0) + 1;
      return;
    }
    c.unexpected++;
    c.long.unexpected++;
    const kind = `long-lived ${end.fail}`;
    c.unexpectedKinds[kind] = (c.unexpectedKinds[kind] ?? 0) + 1;
    if (this.unexpectedSamples.length < 10) {
      this.unexpectedSamples.push(`${kind} (node ${end.node ?? '?'}, open ${((now - end.opened) / 1000).toFixed(1)} s, ${end.exchanges} echoes): ${end.detail}`);
    }
  }

  /** One connection, start to finish. Never rejects: every outcome is counted. */
  private once(): Promise<void> {
    const size = MIN_BYTES + Math.floor(Math.random() * (MAX_BYTES - MIN_BYTES + 1));
    const offset = Math.floor(Math.random() * (POOL.length - size));
    const payload = POOL.subarray(offset, offset + size);
    const r = Math.random();
    const mode: Mode = r < 0.7 ? 'close' : r < 0.9 ? 'half-close' : 'abort';
    // Abort after this many echoed bytes (0: right after writing).
    const abortAfter = Math.floor(Math.random() * size);
    const started = performance.now();
    const chunks: Buffer[] = [];
    let received = 0;
    let node: number | undefined;
    let verified = false;

    return new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.port, allowHalfOpen: true, noDelay: true });
      let done = false;
      const finish = (outcome: 'ok' | 'aborted' | { fail: string; detail: string }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        this.record(outcome, mode, node, started, received);
        resolve();
      };
      const timer = setTimeout(() => finish({ fail: 'timeout', detail: `${mode}, ${received}/${size + 1} bytes after ${CONNECTION_TIMEOUT_MS} ms` }), CONNECTION_TIMEOUT_MS);

      // The echo is complete: the name byte, then the payload exactly.
      const check = (): boolean => {
        const all = Buffer.concat(chunks);
        chunks.length = 0;
        chunks.push(all);
        return all.length === size + 1 && all.subarray(1).equals(payload);
      };

      socket.on('connect', () => {
        this.counts.bytesSent += size;
        socket.write(payload);
        if (mode === 'half-close') socket.end();
        if (mode === 'abort' && abortAfter === 0) finish('aborted');
      });
      socket.on('data', (chunk: Buffer) => {
        if (node === undefined) node = chunk[0];
        chunks.push(chunk);
        received += chunk.length;
        this.counts.bytesReceived += chunk.length;
        if (received > size + 1) return finish({ fail: 'too-many-bytes', detail: `${received} for ${size + 1}` });
        if (mode === 'abort' && received - 1 >= abortAfter) return finish('aborted');
        if (mode === 'close' && received === size + 1) {
          if (!check()) return finish({ fail: 'data-mismatch', detail: `${size} bytes` });
          verified = true;
          socket.end(); // then wait for the backend's end, relayed by the balancer
        }
      });
      socket.on('end', () => {
        if (mode === 'close' && verified) return finish('ok');
        if (mode === 'half-close' && received === size + 1) {
          return check() ? finish('ok') : finish({ fail: 'data-mismatch', detail: `${size} bytes` });
        }
        finish({ fail: 'premature-end', detail: `${mode}, ${received}/${size + 1} bytes` });
      });
      socket.on('error', (err: NodeJS.ErrnoException) => finish({ fail: err.code ?? 'error', detail: `${mode}: ${err.message}` }));
      socket.on('close', () => finish({ fail: 'closed-early', detail: `${mode}, ${received}/${size + 1} bytes` }));
    });
  }

  private record(outcome: 'ok' | 'aborted' | { fail: string; detail: string }, mode: Mode, node: number | undefined, started: number, received: number): void {
    const c = this.counts;
    c.connections++;
    if (node !== undefined && node >= 1 && node <= NODES) c.perNode[node - 1]!++;
    if (outcome === 'ok') {
      c.ok++;
      if (mode === 'half-close') c.halfClosedOk++;
    } else if (outcome === 'aborted') {
      c.aborted++;
    } else if (this.red.explains(node, started, performance.now())) {
      c.killedByRed++;
    } else {
      c.unexpected++;
      c.unexpectedKinds[outcome.fail] = (c.unexpectedKinds[outcome.fail] ?? 0) + 1;
      if (this.unexpectedSamples.length < 10) {
        this.unexpectedSamples.push(`${outcome.fail} (node ${node ?? '?'}, ${received} bytes in): ${outcome.detail}`);
      }
    }
  }
}
