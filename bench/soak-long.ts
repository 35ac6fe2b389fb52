/**
 * The soak's long-lived connections, beside the churn of bench/soak-load.ts. Each one
 * connects through the balancer, reads the backend's name byte (so it knows its node),
 * then every ~500 ms writes a short message and reads its echo, and stays open until it
 * is told to close or something closes it.
 *
 * What they are for: the churn's connections last milliseconds, so when a node turns Red
 * (after 15 s of Yellow, which sends it no new connection) none of them is left on it.
 * These are, and the balancer kills them; the driver, which knows when each node was Red,
 * tells those kills (expected) from any other end (unexpected).
 *
 * A graceful close (before a quiet sample, at the end of the load) waits for the exchange
 * in flight, ends this side, and waits for the backend's end relayed by the balancer.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const NODES = 3;
const MESSAGE_BYTES = 32;
/** Pause between an echo and the next message: 500 ms ± 100 ms (so the pool is not in step). */
const EVERY_MS = 500;
const JITTER_MS = 100;
/** Longest wait for the name byte, an echo, or the backend's end after ours. */
const STEP_TIMEOUT_MS = 10_000;

interface EndBase {
  /** The node that served it (from the backend's name byte), if it got that far. */
  node: number | undefined;
  /** performance.now() when it was opened. */
  opened: number;
  /** Echoes received and verified. */
  exchanges: number;
}

export type LongEnd = (EndBase & { outcome: 'closed' }) | (EndBase & { outcome: 'failed'; fail: string; detail: string });

/** What a connection reports as it goes, for the load's counts. */
export interface LongTally {
  sent(bytes: number): void;
  received(bytes: number): void;
  exchange(): void;
}

type Phase = 'connecting' | 'idle' | 'exchange' | 'closing' | 'done';

export class LongConnection {
  /** Resolves once, when the connection is over (never rejects). */
  readonly ended: Promise<LongEnd>;
  private readonly socket: net.Socket;
  private readonly opened = performance.now();
  private phase: Phase = 'connecting';
  private closeWanted = false;
  private node: number | undefined;
  private exchanges = 0;
  private expected: Buffer | undefined;
  private readonly got: Buffer[] = [];
  private gotBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private settle: (end: LongEnd) => void = () => {};

  constructor(
    port: number,
    private readonly tally: LongTally,
  ) {
    this.ended = new Promise((resolve) => (this.settle = resolve));
    this.socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    this.arm(`no name byte within ${STEP_TIMEOUT_MS} ms`);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? 'error', err.message));
    this.socket.on('close', () => this.fail('closed-early', 'closed with neither an end nor an error'));
  }

  /** Close gracefully: after the exchange in flight (or the name byte), end this side and wait for the backend's end. */
  close(): void {
    this.closeWanted = true;
    if (this.phase === 'idle') this.beginClose();
  }

  private arm(what: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fail('timeout', what), STEP_TIMEOUT_MS);
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'done') return;
    this.tally.received(chunk.length);
    if (this.phase === 'connecting') {
      const name = chunk[0]!;
      if (name < 1 || name > NODES) return this.fail('bad-name-byte', `first byte ${name}`);
      this.node = name;
      if (chunk.length > 1) return this.fail('unsolicited-bytes', `${chunk.length - 1} bytes after the name byte, nothing sent yet`);
      return this.idle();
    }
    if (this.phase !== 'exchange' || !this.expected) {
      return this.fail('unsolicited-bytes', `${chunk.length} bytes with no message in flight (${this.phase}, after ${this.exchanges} echoes)`);
    }
    this.got.push(chunk);
    this.gotBytes += chunk.length;
    if (this.gotBytes > MESSAGE_BYTES) return this.fail('too-many-bytes', `${this.gotBytes} for ${MESSAGE_BYTES}`);
    if (this.gotBytes < MESSAGE_BYTES) return;
    if (!Buffer.concat(this.got).equals(this.expected)) return this.fail('data-mismatch', `echo ${this.exchanges + 1}`);
    this.exchanges++;
    this.tally.exchange();
    this.idle();
  }

  private onEnd(): void {
    if (this.phase === 'closing') return this.finish({ outcome: 'closed', node: this.node, opened: this.opened, exchanges: this.exchanges });
    this.fail('ended-by-peer', `while ${this.phase}, after ${this.exchanges} echoes`);
  }

  /** Between messages: close if asked to, else send the next one in ~500 ms. */
  private idle(): void {
    this.phase = 'idle';
    this.expected = undefined;
    clearTimeout(this.timer);
    if (this.closeWanted) return this.beginClose();
    const wait = EVERY_MS - JITTER_MS + Math.random() * 2 * JITTER_MS;
    this.timer = setTimeout(() => this.send(), wait);
  }

  private send(): void {
    this.phase = 'exchange';
    this.expected = randomBytes(MESSAGE_BYTES);
    this.got.length = 0;
    this.gotBytes = 0;
    this.arm(`no echo within ${STEP_TIMEOUT_MS} ms (message ${this.exchanges + 1})`);
    this.tally.sent(MESSAGE_BYTES);
    this.socket.write(this.expected);
  }

  private beginClose(): void {
    this.phase = 'closing';
    this.arm(`no end from the backend within ${STEP_TIMEOUT_MS} ms of ours`);
    this.socket.end();
  }

  private fail(fail: string, detail: string): void {
    this.finish({ outcome: 'failed', fail, detail, node: this.node, opened: this.opened, exchanges: this.exchanges });
  }

  private finish(end: LongEnd): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    clearTimeout(this.timer);
    this.socket.destroy();
    this.settle(end);
  }
}
