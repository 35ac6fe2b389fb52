/**
 * The PROXY protocol reader (haproxy's doc/proxy-protocol.txt, versions 1 and 2), pure: no
 * sockets, no state. `parseProxyHeader(bytes)` is given ALL the bytes received so far and
 * answers one of
 *   - `more`: a header may still come; read on (every proper prefix of a valid header says this);
 *   - `done`: `consumed` bytes are the header (never more than were given), with the
 *     addresses it carries when it carries any;
 *   - `error`: the bytes can never become a valid header; `reason` says why, in one short line.
 * It rejects as early as the bytes allow (a wrong signature byte, a bad version, a length over
 * the limit are refused before the rest arrives), so a client that sends garbage is
 * turned away at its first packet, not at the deadline.
 *
 * Bounds: a v1 line is at most 107 bytes with its CRLF (the spec's worst case); a v2
 * header at most `maxV2Bytes` (default 232: the 16-byte head and the largest address
 * block, two AF_UNIX paths), TLVs included. Nothing here allocates in proportion to
 * the input beyond the v1 line.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip.ts';

export interface Endpoint {
  address: string;
  port: number;
}

export type ParseResult =
  | { state: 'more' }
  | {
      state: 'done';
      version: 1 | 2;
      /** Bytes of the header; what follows is the client's own data. */
      consumed: number;
      /** `local`: v2 LOCAL (a health check of the proxy itself): use the socket's own addresses. */
      command: 'proxy' | 'local';
      /** `unknown`: v1 UNKNOWN, or a v2 family or transport this balancer does not use; no addresses. */
      family: 'tcp4' | 'tcp6' | 'unknown';
      source?: Endpoint;
      destination?: Endpoint;
    }
  | { state: 'error'; reason: string };

export type Accept = 'v1' | 'v2' | 'any';

export interface ParseOptions {
  /** Which version(s) to take; `any` tells them apart by the first byte. Default `any`. */
  accept?: Accept;
  /** The largest v2 header taken, TLVs included (at least 16 + 216). Default 232. */
  maxV2Bytes?: number;
}

export const V1_MAX_BYTES = 107;
export const V2_HEAD_BYTES = 16;
export const DEFAULT_MAX_V2_BYTES = 232;
export const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const MORE: ParseResult = { state: 'more' };
const error = (reason: string): ParseResult => ({ state: 'error', reason });

/** The first bytes of `b`, quoted, to name what came instead of a header; bounded, whatever `b` holds. */
export function quoteStart(b: Uint8Array, at = 0, max = 12): string {
  let text = '';
  for (let i = at; i < Math.min(b.length, at + max); i++) {
    const c = b[i]!;
    text += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${text}${b.length > at + max ? '…' : ''}"`;
}

/** Whether `b` starts with as much of `prefix` as it holds. */
function agreesWith(b: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(b.length, prefix.length);
  for (let i = 0; i < n; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

export function parseProxyHeader(b: Uint8Array, options: ParseOptions = {}): ParseResult {
  const accept = options.accept ?? 'any';
  if (b.length === 0) return MORE;
  // The two versions differ in their first byte ('P' against CR), so one byte is enough to choose.
  if (b[0] === V1_PREFIX[0] && accept !== 'v2') return parseV1(b);
  if (b[0] === V2_SIGNATURE[0] && accept !== 'v1') return parseV2(b, options.maxV2Bytes ?? DEFAULT_MAX_V2_BYTES);
  const expected = accept === 'v1' ? 'a PROXY protocol v1 header' : accept === 'v2' ? 'a PROXY protocol v2 header' : 'a PROXY protocol header';
  return error(`expected ${expected}, got ${quoteStart(b)}`);
}

const PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;
/** What a TCP4 / TCP6 line may hold before its CRLF: digits, hex letters, dots, colons, spaces. */
const LINE_BYTE = /^[0-9A-Fa-f.: ]$/;

function parseV1(b: Uint8Array): ParseResult {
  if (!agreesWith(b, V1_PREFIX)) return error(`expected a PROXY protocol v1 header ("PROXY "), got ${quoteStart(b)}`);
  const end = Math.min(b.length, V1_MAX_BYTES);
  // The protocol word, checked as soon as its first bytes are in.
  let wordEnd = V1_PREFIX.length;
  while (wordEnd < end && b[wordEnd] !== 0x20 && b[wordEnd] !== 0x0d && b[wordEnd] !== 0x0a) wordEnd++;
  const word = Buffer.from(b.subarray(V1_PREFIX.length, wordEnd)).toString('latin1');
  const complete = wordEnd < end;
  const protocol = PROTOCOLS.find((p) => (complete ? p === word : p.startsWith(word)));
  if (protocol === undefined) return error(`v1: unknown protocol ${quoteStart(b, V1_PREFIX.length, 8)} (TCP4, TCP6 or UNKNOWN)`);
  for (let i = V1_PREFIX.length; i < end; i++) {
    const c = b[i]!;
    if (c === 0x0a) return error('v1: a line feed without the carriage return before it');
    if (c === 0x0d) {
      // The line, CRLF included, must fit in 107 bytes: a CR at the 107th byte has no room for its LF.
      if (i + 2 > V1_MAX_BYTES) return error('v1: no CRLF within the first 107 bytes');
      if (i + 1 === b.length) return MORE;
      if (b[i + 1] !== 0x0a) return error('v1: a carriage return not followed by a line feed');
      return v1Line(Buffer.from(b.subarray(0, i)).toString('latin1'), i + 2);
    }
    // UNKNOWN lines may carry anything before their CRLF (the spec says to ignore it).
    if (protocol !== 'UNKNOWN' && i > wordEnd && !LINE_BYTE.test(String.fromCharCode(c))) {
      return error(`v1: byte 0x${c.toString(16).padStart(2, '0')} at ${i} cannot be part of a ${protocol} line`);
    }
  }
  return b.length >= V1_MAX_BYTES ? error('v1: no CRLF within the first 107 bytes') : MORE;
}

/** A port as v1 writes it: decimal 0-65535 without heading zeroes. */
function v1Port(text: string): number | undefined {
  if (!/^(?:0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function v1Line(line: string, consumed: number): ParseResult {
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') return { state: 'done', version: 1, consumed, command: 'proxy', family: 'unknown' };
  if (fields.length !== 6) return error(`v1: ${fields.length - 1} fields after PROXY, expected 5 separated by single spaces`);
  const [, protocol, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  const six = protocol === 'TCP6';
  const read = six ? parseIPv6 : parseIPv4;
  const format = six ? formatIPv6 : formatIPv4;
  const srcBytes = read(src);
  const dstBytes = read(dst);
  const srcPort = v1Port(sport);
  const dstPort = v1Port(dport);
  const what = six ? 'an IPv6 address' : 'a dotted IPv4 address without heading zeroes';
  if (!srcBytes) return error(`v1: source ${quoteStart(Buffer.from(src, 'latin1'), 0, 40)} is not ${what}`);
  if (!dstBytes) return error(`v1: destination ${quoteStart(Buffer.from(dst, 'latin1'), 0, 40)} is not ${what}`);
  if (srcPort === undefined) return error(`v1: source port ${quoteStart(Buffer.from(sport, 'latin1'), 0, 8)} is not 0-65535 without heading zeroes`);
  if (dstPort === undefined) return error(`v1: destination port ${quoteStart(Buffer.from(dport, 'latin1'), 0, 8)} is not 0-65535 without heading zeroes`);
  return {
    state: 'done',
    version: 1,
    consumed,
    command: 'proxy',
    family: six ? 'tcp6' : 'tcp4',
    source: { address: format(srcBytes), port: srcPort },
    destination: { address: format(dstBytes), port: dstPort },
  };
}

/** Address block sizes by the family byte (high nibble family, low nibble transport). */
const ADDRESS_BYTES: Record<number, number> = { 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216 };

function parseV2(b: Uint8Array, maxBytes: number): ParseResult {
  if (!agreesWith(b, V2_SIGNATURE)) return error(`expected a PROXY protocol v2 signature, got ${quoteStart(b)}`);
  if (b.length <= 12) return MORE;
  const verCmd = b[12]!;
  if (verCmd >> 4 !== 2) return error(`v2: version ${verCmd >> 4}, expected 2`);
  const command = verCmd & 0x0f;
  if (command > 1) return error(`v2: command ${command} is neither LOCAL (0) nor PROXY (1)`);
  if (b.length <= 13) return MORE;
  const fam = b[13]!;
  // LOCAL ignores the family byte (the spec: "the family which is ignored").
  if (command === 1 && ((fam >> 4) > 3 || (fam & 0x0f) > 2)) return error(`v2: family and transport byte 0x${fam.toString(16).padStart(2, '0')} is not one the spec defines`);
  if (b.length < V2_HEAD_BYTES) return MORE;
  const length = (b[14]! << 8) | b[15]!;
  const total = V2_HEAD_BYTES + length;
  if (total > maxBytes) return error(`v2: a header of ${total} bytes, over the limit of ${maxBytes}`);
  const addressBytes = command === 1 ? (ADDRESS_BYTES[fam] ?? 0) : 0;
  if (length < addressBytes) return error(`v2: ${length} bytes after the head, family 0x${fam.toString(16)} needs ${addressBytes} for its addresses`);
  if (b.length < total) return MORE;
  if (command === 0) return { state: 'done', version: 2, consumed: total, command: 'local', family: 'unknown' };
  // Only UNSPEC leaves the address block's size open: its bytes are ignored as a whole.
  if (addressBytes > 0) {
    const bad = checkTlvs(b, V2_HEAD_BYTES + addressBytes, total);
    if (bad) return error(bad);
  }
  const port = (at: number) => (b[at]! << 8) | b[at + 1]!;
  const at = V2_HEAD_BYTES;
  if (fam === 0x11) {
    const source = { address: formatIPv4(b, at), port: port(at + 8) };
    const destination = { address: formatIPv4(b, at + 4), port: port(at + 10) };
    return { state: 'done', version: 2, consumed: total, command: 'proxy', family: 'tcp4', source, destination };
  }
  if (fam === 0x21) {
    const source = { address: formatIPv6(b, at), port: port(at + 32) };
    const destination = { address: formatIPv6(b, at + 16), port: port(at + 34) };
    return { state: 'done', version: 2, consumed: total, command: 'proxy', family: 'tcp6', source, destination };
  }
  // UNSPEC, AF_UNIX, or datagrams: valid headers whose addresses this balancer cannot use; the
  // spec has receivers fall back to the connection's own addresses.
  return { state: 'done', version: 2, consumed: total, command: 'proxy', family: 'unknown' };
}

/** The TLVs in [from, to) must tile it exactly: type (1), length (2), value. Their contents are skipped. */
function checkTlvs(b: Uint8Array, from: number, to: number): string | undefined {
  let at = from;
  while (at < to) {
    if (to - at < 3) return `v2: ${to - at} stray byte(s) after the last TLV`;
    const length = (b[at + 1]! << 8) | b[at + 2]!;
    if (at + 3 + length > to) return `v2: TLV type 0x${b[at]!.toString(16).padStart(2, '0')} of ${length} bytes runs past the header's end`;
    at += 3 + length;
  }
  return undefined;
}
