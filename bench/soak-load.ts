/**
 * The soak's load: `concurrency` loops, each doing connect → write 1-16 KB → read it back
 * → close, over and over, through the balancer to the echo backends (bench/soak-backends.ts).
 * Most connections close cleanly after the echo; some half-close right after writing and
 * read the echo until the backend ends; some are destroyed abruptly mid-stream.
 *
 * Every failure is classified: a connection open while its node was set to Red is
 * expected to die (the balancer kills those on purpose); anything else is unexpected.
 * The load can be paused (no new connections, the open ones finish) for quiet sampling.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

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

/** When each node was set to Red: connections to it that were open then may be killed. */
export class RedLog {
  private readonly events: { node: number; from: number; to: number }[] = [];

  /** Call just before sending the Red command; call the returned function once it is done. */
  begin(node: number): () => void {
    const e = { node, from: performance.now(), to: Infinity };
    this.events.push(e);
    return () => {
      e.to = performance.now() + RED_SLACK_MS;
    };
  }

  /** Did a Red of `node` (any node when unknown) happen while [start, end] was open? */
  explains(node: number | undefined, start: number, end: number): boolean {
    return this.events.some((e) => (node === undefined || e.node === node) && start <= e.to && end >= e.from);
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
  /** Connections that reached node 1, 2, 3 (from the backend's name byte). */
  perNode: number[];
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

  constructor(
    private readonly port: number,
    private readonly concurrency: number,
    private readonly red: RedLog,
  ) {}

  start(): void {
    this.loops = Array.from({ length: this.concurrency }, () => this.loop());
  }

  /** Start no new connection; resolves when the open ones have finished. */
  pause(): Promise<void> {
    this.paused = true;
    this.resumed = new Promise((r) => (this.resume = r));
    return this.idle();
  }

  unpause(): void {
    this.paused = false;
    this.resume();
  }

  /** End the loops for good; resolves when the last connection has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
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
