/**
 * Ports and readiness for the side-by-side benchmark. A proxy counts as up only when a
 * connection through it gets a byte back from the echo backend behind it: a listening
 * socket alone says nothing about whether the proxy can dial and forward yet, and that full
 * round trip is what "ms from start to accepting" times.
 */
import net from 'node:net';

const HOST = '127.0.0.1';

/** A port free right now on 127.0.0.1 (the OS picks it; the caller binds it again soon). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sent by `waitForReply` to an HTTP server: the smallest request that gets an answer. */
export const HTTP_PROBE = 'GET / HTTP/1.0\r\nHost: bench\r\n\r\n';

/** One attempt: connect, send `payload`, true when a byte comes back within `timeoutMs`. */
function replyOnce(port: number, payload: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port, noDelay: true });
    let done = false;
    const end = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => end(false), timeoutMs);
    s.once('connect', () => s.write(payload));
    s.once('data', () => end(true));
    s.once('error', () => end(false));
    s.once('close', () => end(false));
  });
}

/**
 * Poll `port` until `payload` sent to it gets a reply, every `intervalMs`, giving up at
 * `timeoutMs` (or as soon as `gaveUp()` says the process died). Resolves with the ms waited.
 */
export async function waitForReply(port: number, payload: string, timeoutMs: number, gaveUp: () => string | undefined, intervalMs = 2): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await replyOnce(port, payload, 1_000)) return performance.now() - started;
    const reason = gaveUp();
    if (reason) throw new Error(reason);
    if (performance.now() - started > timeoutMs) throw new Error(`no reply on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
