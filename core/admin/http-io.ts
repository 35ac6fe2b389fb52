/**
 * The admin server's two edges with raw HTTP: reading a body within its limit, and answering
 * what Node's HTTP parser refuses before any request exists (a header section over 16 KiB,
 * a bad request line), in JSON with the `x-protobalance` mark like every other answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describeError } from '../errors.ts';
import { lazyBuiltin } from '../lazy-builtin.ts';
import { VERSION } from '../version.ts';
import { MARK_HEADER } from './address.ts';
import { Refusal } from './bounds.ts';
import { LIMITS } from './request.ts';

const http = lazyBuiltin<typeof import('node:http')>('node:http');

const tooLarge = () => new Refusal(413, `body: larger than ${LIMITS.body} bytes`);

/** The body's bytes, at most LIMITS.body of them (413 past that: by Content-Length, or as they come). */
export function bodyBytes(req: IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length']) > LIMITS.body) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    let size = 0;
    let done = false;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size <= LIMITS.body) return void chunks.push(c);
      done = true;
      reject(tooLarge());
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (err) => {
      if (!done) reject(new Refusal(400, `body: not received (${describeError(err)})`));
      done = true;
    });
  });
}

/** The status and message for an error of Node's HTTP parser (431, 408, 400). */
export function clientErrorAnswer(err: Error & { code?: string }): { status: number; error: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, error: 'headers: larger than 16 KiB' };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, error: 'request: not received in time' };
  if (err.code === 'HPE_INVALID_METHOD') return { status: 400, error: 'method: not an HTTP method' };
  if (err.code === 'HPE_INVALID_URL') return { status: 400, error: 'path: not a valid request target' };
  return { status: 400, error: `request: not well-formed HTTP/1.1 (${String(err.code ?? err.message).slice(0, 80)})` };
}

/**
 * Answer a parser error on `socket` and close it; returns what was answered, or undefined
 * when the socket was gone (a reset) and was only destroyed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): { status: number; error: string } | undefined {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  const answer = clientErrorAnswer(err);
  const text = `${JSON.stringify({ error: answer.error })}\n`;
  socket.end(
    `HTTP/1.1 ${answer.status} ${http().STATUS_CODES[answer.status]}\r\n${MARK_HEADER}: ${VERSION}\r\n` +
      `content-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
  return answer;
}
