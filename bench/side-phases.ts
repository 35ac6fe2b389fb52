/**
 * The measurements of the side-by-side benchmark against one target (the backends directly,
 * or a proxy in front of them): request rates with their CPU cost, bulk throughput, and the
 * memory of idle connections. Each uses wrk / iperf3 when installed and the Node load
 * generator (bench/load.ts) when not; CPU and memory are always those of the target's whole
 * process tree (bench/proc-tree.ts), so a proxy's workers are counted with it.
 */
import { bulkUpload, closeAll, keepAlive, newConnections, openIdle } from './load.ts';
import { sampleTree } from './proc-tree.ts';
import type { Ports } from './proxies.ts';
import { runIperf } from './iperf.ts';
import { runWrk, WRK_CONNECTIONS, type RequestRate } from './wrk.ts';

export interface Tools {
  /** wrk's path, or undefined: then the Node request/response load runs instead. */
  wrk: string | undefined;
  iperf3: string | undefined;
}

/** The processes whose CPU and memory count for a target, per service (direct: each backend). */
export type Roots = Record<keyof Ports, number>;

export interface RateFigures {
  perSecond: number;
  p99Ms: number;
  /** CPU of the target's process tree per request (µs). */
  cpuMicrosPerOp: number;
  requests: number;
  errors: number;
}

/** Concurrency of the Node fallback loops for new connections (bench/run.ts uses the same). */
const NODE_NEW_CONN_LOOPS = 32;
const NODE_MAX_OPS = 2_000_000;
/** The Node bulk fallback sends at most this much per stream. */
const NODE_BULK_BYTES = 64 * 1024 ** 3;

async function requests(tools: Tools, port: number, seconds: number, close: boolean): Promise<RequestRate> {
  if (tools.wrk) return runWrk(tools.wrk, port, seconds, close);
  const o = { durationMs: seconds * 1000, maxOps: NODE_MAX_OPS };
  const r = close
    ? await newConnections(port, { ...o, concurrency: NODE_NEW_CONN_LOOPS })
    : await keepAlive(port, { ...o, concurrency: WRK_CONNECTIONS });
  return { requests: r.ops, seconds: r.seconds, perSecond: r.perSecond, p99Ms: r.p99Ms, errors: r.errors };
}

/** Unmeasured traffic first: the JIT of a Node proxy, and every proxy's first allocations. */
export async function warmUp(tools: Tools, ports: Ports, seconds: number): Promise<void> {
  const r = await requests(tools, ports.req, seconds, false);
  if (r.requests === 0) throw new Error(`no answer during the warm-up (${r.errors} errors)`);
}

/** Keep-alive (`close` false) or one connection per request (`close` true). */
export async function rate(tools: Tools, ports: Ports, roots: Roots, seconds: number, close: boolean): Promise<RateFigures> {
  const before = sampleTree(roots.req).cpuMicros;
  const r = await requests(tools, ports.req, seconds, close);
  const cpu = sampleTree(roots.req).cpuMicros - before;
  return { perSecond: r.perSecond, p99Ms: r.p99Ms, cpuMicrosPerOp: cpu / Math.max(1, r.requests), requests: r.requests, errors: r.errors };
}

/** Gbit/s, client to server, with `streams` parallel streams. */
export async function bulk(tools: Tools, ports: Ports, seconds: number, streams: number): Promise<number> {
  if (tools.iperf3) return (await runIperf(tools.iperf3, ports.bulk, seconds, streams)).gbitPerSecond;
  const started = performance.now();
  const all = await Promise.all(Array.from({ length: streams }, () => bulkUpload(ports.bulk, NODE_BULK_BYTES, seconds * 1000)));
  const bytes = all.reduce((s, r) => s + r.bytes, 0);
  return (bytes * 8) / ((performance.now() - started) / 1000) / 1e9;
}

/** RSS of the target's tree per idle connection (KiB), `count` held at once, each proven by an echo. */
export async function idleMemory(ports: Ports, roots: Roots, count: number, settleMs: number): Promise<number> {
  // First-use allocations (buffers, connection tables) out of the way before the baseline.
  await closeAll(await openIdle(ports.echo, 100));
  await new Promise((r) => setTimeout(r, settleMs));
  const before = sampleTree(roots.echo).rssBytes;
  const sockets = await openIdle(ports.echo, count);
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    const after = sampleTree(roots.echo).rssBytes;
    return (after - before) / 1024 / sockets.length;
  } finally {
    await closeAll(sockets);
  }
}
