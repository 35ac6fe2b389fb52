/**
 * The load generator of the plugins part (bench/plugin-cost.ts), run as a child process so
 * that it shares its event loop with neither the balancer nor the bench. The same for every
 * configuration: `concurrency` loops of connect → write (a PROXY header, then) a
 * REQUEST_SIZE-byte request in one write → read the RESPONSE_SIZE-byte answer → close, for
 * a warm-up and then a measured window, without pausing between the two.
 *
 * Parent → child: a `LoadRun`. Child → parent: `{ type: 'mark', at: 'measuring' | 'done' }`
 * when the measured window opens and when it closes (the parent samples CPU then), then a
 * `LoadResult`. Completions are counted by when they complete; every phase ends by
 * itself (its window, its count, and a hard stop GRACE_MS later).
 */
import net, { type Socket } from 'node:net';
import { encodeProxyHeader } from '../plugins/proxy-protocol/index.ts';
import type { ClientHeader } from './plugin-cost-configs.ts';
import { REQUEST_SIZE, RESPONSE_SIZE, type ReadyMessage } from './protocol.ts';

export interface LoadRun {
  type: 'run';
  port: number;
  header: ClientHeader;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Completed connections at most in the measured window. */
  maxOps: number;
}

export interface LoadMark {
  type: 'mark';
  at: 'measuring' | 'done';
}

export interface LoadResult {
  type: 'result';
  /** Connections completed in the measured window, and its length. */
  ops: number;
  seconds: number;
  /** Connections that failed (refused, closed early, timed out), warm-up included. */
  errors: number;
  warmupOps: number;
  firstError?: string;
  medianMs: number;
  p99Ms: number;
}

const GRACE_MS = 5_000;
/** Distinct client addresses the headers name (10.1.b.a), as a balancer in front would see many clients. */
const SOURCES = 1_024;
const REQUEST = Buffer.alloc(REQUEST_SIZE, 0x71);

/** What each connection writes first, round the pool: the header (if any) and the request, as one buffer. */
function firstWrites(header: ClientHeader, port: number): Buffer[] {
  if (header === 'none') return [REQUEST];
  return Array.from({ length: SOURCES }, (_, i) => {
    const source = { address: `10.1.${Math.floor(i / 250)}.${1 + (i % 250)}`, port: 1024 + i };
    return Buffer.concat([encodeProxyHeader(header, source, { address: '127.0.0.1', port }), REQUEST]);
  });
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! : Number.NaN;
}

function run(o: LoadRun): Promise<LoadResult> {
  const writes = firstWrites(o.header, o.port);
  const latencies = new Float64Array(o.maxOps);
  return new Promise((resolve) => {
    /** The window is opened and closed by timers, which also send the marks the parent samples CPU at. */
    let state: 'warm-up' | 'window' | 'closed' = 'warm-up';
    let openedAt = 0;
    let closedAt = 0;
    const open = new Set<Socket>();
    let ops = 0;
    let warmupOps = 0;
    let errors = 0;
    let firstError: string | undefined;
    let next = 0;
    let running = o.concurrency;
    let ended = false;
    const mark = (at: LoadMark['at']) => process.send?.({ type: 'mark', at } satisfies LoadMark);
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(hardStop);
      clearTimeout(opening);
      clearTimeout(closing);
      for (const s of open) s.destroy();
      const sorted = latencies.slice(0, ops).sort();
      resolve({ type: 'result', ops, seconds: (closedAt - openedAt) / 1000, errors, warmupOps, firstError, medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) });
    };
    const opening = setTimeout(() => {
      state = 'window';
      openedAt = performance.now();
      mark('measuring');
    }, o.warmupMs);
    const closing = setTimeout(() => {
      state = 'closed';
      closedAt = performance.now();
      mark('done');
      if (running === 0) end();
    }, o.warmupMs + o.durationMs);
    const hardStop = setTimeout(end, o.warmupMs + o.durationMs + GRACE_MS);
    const one = (): void => {
      if (ended) return;
      if (state === 'closed' || ops >= o.maxOps) {
        if (--running === 0 && state === 'closed') end();
        return;
      }
      const started = performance.now();
      let got = 0;
      let over = false;
      const s = net.connect({ host: '127.0.0.1', port: o.port, noDelay: true });
      open.add(s);
      const finish = (failure?: string) => {
        if (over) return;
        over = true;
        s.destroy();
        open.delete(s);
        if (failure === undefined) {
          if (state === 'warm-up') warmupOps++;
          else if (state === 'window' && ops < o.maxOps) latencies[ops++] = performance.now() - started;
          one();
        } else {
          errors++;
          firstError ??= failure;
          // Not at once: a failure that comes back right away would spin.
          setTimeout(one, 10);
        }
      };
      s.setTimeout(GRACE_MS, () => finish('no answer within 5 s'));
      s.once('connect', () => s.write(writes[next++ % writes.length]!));
      s.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= RESPONSE_SIZE) finish();
      });
      s.once('error', (err) => finish(err.message));
      s.once('close', () => finish(`closed after ${got} of ${RESPONSE_SIZE} bytes`));
    };
    for (let i = 0; i < o.concurrency; i++) one();
  });
}

process.on('message', (m: LoadRun) => {
  if (m?.type !== 'run') return;
  void run(m).then((r) => process.send?.(r));
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', ports: {} } satisfies ReadyMessage);
