/**
 * Requests per second and p99 latency with wrk against the HTTP backend, directly or through
 * a proxy: keep-alive (`-t2 -c64`, one connection carries many requests) and new connections
 * (the same with `Connection: close`, so every request is one TCP connection through the
 * proxy). wrk is a C client on its own threads, so unlike the Node load generator it is not
 * the first thing to saturate. Its text output is parsed here; a run with socket errors or
 * non-2xx answers is reported as such, not hidden.
 */
import { runToEnd } from './external.ts';

export interface RequestRate {
  requests: number;
  seconds: number;
  perSecond: number;
  p99Ms: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
}

export const WRK_THREADS = 2;
export const WRK_CONNECTIONS = 64;

/** wrk's arguments; `seconds` whole (wrk takes no fractions). */
export function wrkArgs(port: number, seconds: number, close: boolean): string[] {
  return [
    `-t${WRK_THREADS}`,
    `-c${WRK_CONNECTIONS}`,
    `-d${Math.max(1, Math.round(seconds))}s`,
    '--latency',
    ...(close ? ['-H', 'Connection: close'] : []),
    `http://127.0.0.1:${port}/`,
  ];
}

/** The command line as a reader would type it, for the report. */
export function wrkCommandLine(close: boolean, seconds: number | string): string {
  return `wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${seconds}s --latency${close ? " -H 'Connection: close'" : ''} http://127.0.0.1:<port>/`;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(value: string, unit: string): number {
  return Number(value) * (UNIT_MS[unit] ?? Number.NaN);
}

export function parseWrk(text: string): RequestRate {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(text);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  if (!total || !rate) throw new Error(`wrk output not understood:\n${text.trim()}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors = (socket ? socket.slice(1).reduce((s, v) => s + Number(v), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return {
    requests: Number(total[1]),
    seconds: toMs(total[2]!, total[3]!) / 1000,
    perSecond: Number(rate[1]),
    p99Ms: p99 ? toMs(p99[1]!, p99[2]!) : Number.NaN,
    errors,
  };
}

export async function runWrk(file: string, port: number, seconds: number, close: boolean): Promise<RequestRate> {
  // wrk stops itself at -d; the hard limit only catches a wedged run.
  const { code, stdout, stderr } = await runToEnd(file, wrkArgs(port, seconds, close), seconds * 1000 + 15_000);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  const r = parseWrk(stdout);
  if (r.requests === 0) throw new Error(`wrk completed no request:\n${stdout.trim()}`);
  return r;
}
