/**
 * The Node load generator: new connections per second, keep-alive request/response per
 * second, one-stream bulk throughput, and idle connections. Every phase stops by itself
 * at its deadline or operation count (plus a hard stop a few seconds later).
 */
import net, { type Socket } from 'node:net';
import { BULK_DOWNLOAD, BULK_UPLOAD, REQUEST_SIZE, RESPONSE_SIZE } from './protocol.ts';

const HOST = '127.0.0.1';
const REQUEST = Buffer.alloc(REQUEST_SIZE, 0x71);
const CHUNK = Buffer.alloc(256 * 1024, 0x75);
/** Extra time after a phase's deadline before whatever is still open is destroyed. */
const GRACE_MS = 5_000;

export interface RateResult {
  ops: number;
  seconds: number;
  perSecond: number;
  p99Ms: number;
  errors: number;
  /** Every latency sampled, ms (at most `maxOps`). */
  samples: Float64Array;
}

export interface RateOptions {
  /** Concurrent loops (new connections) or persistent connections (keep-alive). */
  concurrency: number;
  durationMs: number;
  maxOps: number;
  /** New connections: the local address of each (default: the system's choice). */
  localAddress?: () => string;
}

/** Latency samples of one phase, bounded by its operation count. */
class Samples {
  private readonly ms: Float64Array;
  count = 0;
  constructor(max: number) {
    this.ms = new Float64Array(max);
  }
  add(ms: number): void {
    if (this.count < this.ms.length) this.ms[this.count++] = ms;
  }
  taken(): Float64Array {
    return this.ms.slice(0, this.count);
  }
}

/** The 99th percentile of `values` (NaN when there are none). */
export function p99(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Number.NaN;
}

function result(samples: Samples, started: number, errors: number): RateResult {
  const seconds = (performance.now() - started) / 1000;
  const taken = samples.taken();
  return { ops: samples.count, seconds, perSecond: samples.count / seconds, p99Ms: p99(taken), errors, samples: taken };
}

/** Connect, send one request, read the answer, close; `concurrency` loops in parallel. */
export function newConnections(port: number, o: RateOptions): Promise<RateResult> {
  return new Promise((resolve) => {
    const samples = new Samples(o.maxOps);
    const started = performance.now();
    const deadline = started + o.durationMs;
    const open = new Set<Socket>();
    let errors = 0;
    let loops = o.concurrency;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(hardStop);
      for (const s of open) s.destroy();
      resolve(result(samples, started, errors));
    };
    const hardStop = setTimeout(finish, o.durationMs + GRACE_MS);
    const loop = (): void => {
      if (finished) return;
      if (performance.now() >= deadline || samples.count >= o.maxOps || errors > o.maxOps / 10 + 100) {
        if (--loops === 0) finish();
        return;
      }
      const t0 = performance.now();
      let got = 0;
      let done = false;
      const s = net.connect({ host: HOST, port, noDelay: true, ...(o.localAddress ? { localAddress: o.localAddress() } : {}) });
      open.add(s);
      const end = (ok: boolean) => {
        if (done) return;
        done = true;
        if (ok) samples.add(performance.now() - t0);
        else errors++;
        s.destroy();
        open.delete(s);
        // An error right away (e.g. no free port) is retried a little later, not at once.
        if (ok) loop();
        else setTimeout(loop, 10);
      };
      s.setTimeout(GRACE_MS, () => end(false));
      s.on('connect', () => s.write(REQUEST));
      s.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= RESPONSE_SIZE) end(true);
      });
      s.on('error', () => end(false));
      s.on('close', () => end(false));
    };
    for (let i = 0; i < o.concurrency; i++) loop();
  });
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port, noDelay: true });
    const onTimeout = () => s.destroy(new Error('connect timed out'));
    s.setTimeout(GRACE_MS, onTimeout);
    s.once('connect', () => {
      s.setTimeout(0, onTimeout);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** `concurrency` persistent connections, each sending a request as soon as the last answer came. */
export async function keepAlive(port: number, o: RateOptions): Promise<RateResult> {
  const sockets = await Promise.all(Array.from({ length: o.concurrency }, () => connect(port)));
  return new Promise((resolve) => {
    const samples = new Samples(o.maxOps);
    const started = performance.now();
    const deadline = started + o.durationMs;
    let errors = 0;
    let active = sockets.length;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(hardStop);
      const r = result(samples, started, errors);
      for (const s of sockets) s.destroy();
      resolve(r);
    };
    const hardStop = setTimeout(finish, o.durationMs + GRACE_MS);
    for (const s of sockets) {
      let got = 0;
      let t0 = performance.now();
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        if (--active === 0) finish();
      };
      s.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got < RESPONSE_SIZE) return;
        got -= RESPONSE_SIZE;
        const now = performance.now();
        samples.add(now - t0);
        if (now >= deadline || samples.count >= o.maxOps) return stop();
        t0 = now;
        s.write(REQUEST);
      });
      s.on('error', () => {
        errors++;
        stop();
      });
      s.on('close', stop);
      s.write(REQUEST);
    }
  });
}

export interface BulkResult {
  bytes: number;
  seconds: number;
  gbitPerSecond: number;
}

function bulkResult(bytes: number, started: number): BulkResult {
  const seconds = (performance.now() - started) / 1000;
  return { bytes, seconds, gbitPerSecond: (bytes * 8) / seconds / 1e9 };
}

/** One stream to the bulk sink: send until `bytes` or the deadline, half-close, await the count. */
export async function bulkUpload(port: number, bytes: number, durationMs: number): Promise<BulkResult> {
  const s = await connect(port);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const deadline = started + durationMs;
    let sent = 0;
    let reply = Buffer.alloc(0);
    const hardStop = setTimeout(() => s.destroy(new Error('bulk upload: no answer')), durationMs + GRACE_MS);
    const pump = (): void => {
      while (sent < bytes && performance.now() < deadline) {
        const chunk = bytes - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, bytes - sent);
        sent += chunk.length;
        if (!s.write(chunk)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    s.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      if (reply.length < 8) return;
      clearTimeout(hardStop);
      const r = bulkResult(Number(reply.readBigUInt64BE(0)), started);
      s.destroy();
      resolve(r);
    });
    s.on('error', (err) => {
      clearTimeout(hardStop);
      reject(err);
    });
    s.write(Buffer.of(BULK_UPLOAD));
    pump();
  });
}

/** One stream from the bulk source: ask for `bytes`, read until the end or the deadline. */
export async function bulkDownload(port: number, bytes: number, durationMs: number): Promise<BulkResult> {
  const s = await connect(port);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const deadline = started + durationMs;
    let received = 0;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      clearTimeout(hardStop);
      const r = bulkResult(received, started);
      s.destroy();
      resolve(r);
    };
    const hardStop = setTimeout(end, durationMs + GRACE_MS);
    s.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= bytes || performance.now() >= deadline) end();
    });
    s.on('end', end);
    s.on('error', (err) => {
      if (done) return;
      clearTimeout(hardStop);
      reject(err);
    });
    const request = Buffer.alloc(9);
    request[0] = BULK_DOWNLOAD;
    request.writeBigUInt64BE(BigInt(bytes), 1);
    s.write(request);
  });
}

/**
 * Open `count` connections to an echo server, each proven end to end by one echoed byte,
 * `parallel` at a time. Returns the open sockets.
 */
export async function openIdle(port: number, count: number, parallel = 100): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const one = async () => {
    const s = await connect(port);
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.setTimeout(GRACE_MS, () => reject(new Error('idle connection: no echo')));
      s.once('data', () => {
        s.setTimeout(0);
        resolve();
      });
      s.once('error', reject);
      s.write('x');
    });
    s.on('error', () => {});
  };
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < count && !failed) {
      next++;
      await one().catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(parallel, count) }, worker));
  const failure = settled.find((r) => r.status === 'rejected');
  if (failure) {
    await closeAll(sockets);
    throw failure.reason;
  }
  return sockets;
}

/** Close sockets and wait until every one has closed. */
export function closeAll(sockets: readonly Socket[]): Promise<void> {
  return Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  ).then(() => undefined);
}
