/**
 * Bulk throughput with iperf3: an iperf3 server is the backend, the client connects to the
 * proxy's port (its control connection goes through the proxy too, which every proxy here
 * forwards like any other), once with one stream and once with eight (`-P 8`). The figure
 * is the JSON's `end.sum_received.bits_per_second`: what the server got, so bytes a proxy
 * still holds in its buffers when the test ends are not counted as delivered.
 */
import { runToEnd, startExternal, type External } from './external.ts';

/** The client's arguments; `seconds` whole (iperf3 3.x reads -t as an integer). */
export function iperfArgs(port: number, seconds: number, streams: number): string[] {
  return [
    '-c',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    String(Math.max(1, Math.round(seconds))),
    ...(streams > 1 ? ['-P', String(streams)] : []),
    '-J',
  ];
}

export function iperfCommandLine(seconds: number, streams: number): string {
  return `iperf3 -c 127.0.0.1 -p <port> -t ${seconds}${streams > 1 ? ` -P ${streams}` : ''} -J`;
}

/**
 * Start `iperf3 -s` on `port`; resolves when it says it listens (a probe connection would
 * cost it a test slot). `--forceflush`: into a pipe it would otherwise hold that line back.
 */
export async function startIperfServer(file: string, port: number, timeoutMs = 10_000): Promise<External> {
  const ext = startExternal('iperf3-server', file, ['-s', '-p', String(port), '--forceflush']);
  const started = performance.now();
  while (!/Server listening/.test(ext.output())) {
    if (ext.exited()) throw new Error(`iperf3 -s exited:\n${ext.output().trim()}`);
    if (performance.now() - started > timeoutMs) {
      await ext.stop('SIGKILL', 0);
      throw new Error(`iperf3 -s not listening after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return ext;
}

interface IperfJson {
  error?: string;
  end?: { sum_received?: { bits_per_second?: number; bytes?: number } };
}

/** Gbit/s received by the server. */
export async function runIperf(file: string, port: number, seconds: number, streams: number): Promise<{ gbitPerSecond: number; bytes: number }> {
  for (let attempt = 1; ; attempt++) {
    const { stdout, stderr } = await runToEnd(file, iperfArgs(port, seconds, streams), seconds * 1000 + 20_000);
    let json: IperfJson;
    try {
      json = JSON.parse(stdout) as IperfJson;
    } catch {
      throw new Error(`iperf3 output is not JSON: ${(stdout + stderr).trim().slice(0, 500)}`);
    }
    // The server takes one test at a time and may still be closing the last one.
    if (json.error && /busy/i.test(json.error) && attempt < 3) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    const bps = json.end?.sum_received?.bits_per_second;
    if (bps === undefined) throw new Error('iperf3: no end.sum_received.bits_per_second in its JSON');
    return { gbitPerSecond: bps / 1e9, bytes: json.end?.sum_received?.bytes ?? 0 };
  }
}
