/**
 * What the benchmark's backends speak, and the stats messages its child processes answer
 * over IPC. Shared by bench/backends.ts, bench/balancer-process.ts, bench/load.ts, bench/run.ts.
 */

/** Request/response server: each REQUEST_SIZE bytes in get RESPONSE_SIZE bytes out. */
export const REQUEST_SIZE = 16;
export const RESPONSE_SIZE = 64;

/** Bulk server: first byte picks the direction. */
export const BULK_UPLOAD = 0x55; // 'U': client sends until it half-closes; server answers the count (8 bytes, BE)
export const BULK_DOWNLOAD = 0x44; // 'D' + 8-byte BE count: server sends that many bytes, then ends

export interface BackendPorts {
  echo: number;
  reqres: number;
  bulk: number;
}

/** Parent → child: ask for figures (after a GC when `gc`). */
export interface StatsRequest {
  type: 'stats';
  id: number;
  gc?: boolean;
}

/** Child → parent. */
export interface StatsReply {
  type: 'stats';
  id: number;
  /** user + system CPU, microseconds since the process started. */
  cpuMicros: number;
  rss: number;
  /** Balancers started with `--time-picks`: µs spent in `Chooser.pick` so far, and how many picks. */
  pickMicros?: number;
  picks?: number;
}

/** Child → parent, once, when it serves. */
export interface ReadyMessage {
  type: 'ready';
  ports: Record<string, number>;
}

/** Answer stats requests from the parent (with `extra()`'s fields); exit when the parent goes away. */
export function serveStats(extra?: () => Partial<StatsReply>): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: StatsRequest) => {
    if (m?.type !== 'stats') return;
    if (m.gc && gc) {
      gc();
      gc();
    }
    const cpu = process.cpuUsage();
    const reply: StatsReply = { ...extra?.(), type: 'stats', id: m.id, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage.rss() };
    process.send?.(reply);
  });
  process.on('disconnect', () => process.exit(0));
}
