/**
 * Requests to an admin server below `fetch`: any method, target, header and body bytes, on
 * a fresh connection each, so that the tests can send what clients should not (bad
 * %-encoding, an unknown method, a header section over 16 KiB) and read every answer.
 */
import http from 'node:http';
import net from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The body as JSON, when it is. */
  json: Record<string, unknown> | undefined;
}

function reply(status: number, headers: Record<string, string>, text: string): RawReply {
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

/** One request through node:http (which sends the target as given, when its characters are legal). */
export function httpCall(
  origin: string,
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<RawReply> {
  const url = new URL(origin);
  const length = options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) };
  return new Promise((resolve, reject) => {
    const req = http.request(
      // A body is framed by its length whatever the method: node:http frames none for
      // OPTIONS or DELETE, and the server would read the bytes as a next request.
      { host: url.hostname, port: url.port, method, path: target, headers: { ...length, ...options.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
          resolve(reply(res.statusCode ?? 0, headers, Buffer.concat(chunks).toString('utf8')));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Bytes as they are on a new connection; the answer read to the end (the server closes it). */
export function socketCall(port: number, bytes: string | Uint8Array): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const at = all.indexOf('\r\n\r\n');
      const head = (at < 0 ? all : all.slice(0, at)).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = at < 0 ? '' : all.slice(at + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        let out = '';
        for (let i = 0; ; ) {
          const eol = body.indexOf('\r\n', i);
          const size = parseInt(body.slice(i, eol), 16);
          if (!(size > 0)) break;
          out += body.slice(eol + 2, eol + 2 + size);
          i = eol + 2 + size + 2;
        }
        body = out;
      }
      resolve(reply(status, headers, Buffer.from(body, 'latin1').toString('utf8')));
    });
    socket.end(bytes);
  });
}
