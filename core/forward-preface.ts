/**
 * Reading a client's preface (what a `preface` tap asked for) before the connection goes
 * on: the bytes received so far, one growing buffer handed whole to the reader's `parse`
 * after each read, and what its answer means for the connection. Plain logic, no socket:
 * core/forward.ts feeds it the chunks its endpoint captured.
 */
import type { PrefaceReader, Refusal } from './context.ts';
import { describeError } from './errors.ts';

export type PrefaceStep =
  /** Wants more bytes (and may have them: under maxBytes). */
  | { kind: 'more' }
  /** Done: `rest` (bytes after the preface) goes to the node first. */
  | { kind: 'done'; consumed: number; rest: Buffer | undefined; client: { address: string; port: number } | undefined }
  /** Refuse the client (code 'preface' unless the refusal names another). */
  | { kind: 'refuse'; refusal: Refusal };

/** Why `reader` cannot be used (a plugin's mistake: the client is refused), or undefined. */
export function invalidReader(reader: PrefaceReader): string | undefined {
  if (reader === null || typeof reader !== 'object' || typeof reader.parse !== 'function') return 'a preface reader without parse()';
  if (!(reader.timeout > 0) || !Number.isFinite(reader.timeout)) return `a preface reader with timeout ${reader.timeout} (expected ms > 0)`;
  if (!(reader.maxBytes >= 1)) return `a preface reader with maxBytes ${reader.maxBytes} (expected ≥ 1)`;
  return undefined;
}

export class Preface {
  private received: Buffer | undefined;

  constructor(readonly reader: PrefaceReader) {}

  get bytes(): number {
    return this.received?.length ?? 0;
  }

  /** One more chunk from the client: what the reader makes of everything so far. */
  add(chunk: Buffer): PrefaceStep {
    const all = this.received === undefined ? chunk : Buffer.concat([this.received, chunk]);
    this.received = all;
    let result: unknown;
    try {
      result = this.reader.parse(all);
    } catch (err) {
      return { kind: 'refuse', refusal: `the preface parser failed: ${describeError(err)}` };
    }
    const r = result as { done?: unknown; consumed?: unknown; client?: unknown; error?: unknown } | undefined;
    if (r !== null && typeof r === 'object' && 'error' in r) return { kind: 'refuse', refusal: r.error as Refusal };
    if (r?.done === false) {
      if (all.length >= this.reader.maxBytes) return { kind: 'refuse', refusal: `no complete preface in ${all.length} bytes (maxBytes ${this.reader.maxBytes})` };
      return { kind: 'more' };
    }
    if (r?.done !== true) return { kind: 'refuse', refusal: 'the preface parser gave no answer (expected done or error)' };
    const consumed = r.consumed;
    if (typeof consumed !== 'number' || !Number.isInteger(consumed) || consumed < 0 || consumed > all.length) {
      return { kind: 'refuse', refusal: `the preface parser consumed ${String(consumed)} of ${all.length} bytes` };
    }
    const client = r.client as { address?: unknown; port?: unknown } | undefined;
    if (client !== undefined && (typeof client.address !== 'string' || client.address === '' || typeof client.port !== 'number')) {
      return { kind: 'refuse', refusal: 'the preface parser named a client without address and port' };
    }
    this.received = undefined;
    return {
      kind: 'done',
      consumed,
      rest: consumed < all.length ? all.subarray(consumed) : undefined,
      client: client as { address: string; port: number } | undefined,
    };
  }
}
