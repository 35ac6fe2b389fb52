/**
 * Coverage-guided fuzz target (@jazzer.js/core) for the PROXY protocol reader and writer
 * (plugins/proxy-protocol/parse.ts and encode.ts), which read the first bytes of every
 * client of a listener with `acceptProxyProtocol`. Run as `npm run fuzz -- proxy-protocol --seconds N`.
 *
 * `fuzz(data)` reads `data` as the bytes a client sent, under each `accept` mode and two
 * v2 limits, and throws only when a promise of the reader is broken, a real bug:
 * - nothing throws;
 * - `done` consumes at least one byte and never more than it was given, at most 107 for
 *   v1 and the limit for v2; its addresses are IP text as a socket prints it and its
 *   ports 0-65535; the header alone (the bytes consumed) reads the same, and every
 *   proper prefix of it says `more`; written again by the encoder, it reads back the same
 *   addresses; `any` agrees with the version's own mode;
 * - `more` never comes once the bytes reach the limit of the version they started;
 * - `error` is one line of at most 200 characters, and stays an error whatever follows.
 * It also reads `data` as two addresses and ports, writes them as v1 and v2, and checks that
 * they read back as written. test/plugins/proxy-protocol/codec-properties.test.ts holds the
 * same properties for fast-check, and drives this target on its seeds.
 */
import { isIP, SocketAddress } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { encodeProxyHeader } from '../../plugins/proxy-protocol/encode.ts';
import { formatIPv4, formatIPv6 } from '../../plugins/proxy-protocol/ip.ts';
import { parseProxyHeader, V1_MAX_BYTES, type Accept, type Endpoint, type ParseResult } from '../../plugins/proxy-protocol/parse.ts';

const MODES: readonly Accept[] = ['any', 'v1', 'v2'];
const LIMITS = [232, 1024] as const;

function fail(what: string, data: Uint8Array, got: unknown): never {
  throw new Error(`${what}: ${Buffer.from(data.subarray(0, 120)).toString('hex')} gave ${JSON.stringify(got)}`);
}

/** What Node would print for this address: the reader must print the same. */
function canonical(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  return new SocketAddress({ address, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
}

function checkEndpoint(e: Endpoint | undefined, data: Uint8Array, r: ParseResult): void {
  if (e === undefined) return;
  if (canonical(e.address) !== e.address) fail(`address ${e.address} is not as a socket prints it`, data, r);
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) fail('a port out of 0-65535', data, r);
}

/**
 * Every promise of one reading of `data`; returns the result. `prefixes`: also read every
 * proper prefix of a header found (quadratic in its length: done for one mode only).
 */
export function checkParse(data: Uint8Array, accept: Accept, maxV2Bytes: number, prefixes = true): ParseResult {
  const r = parseProxyHeader(data, { accept, maxV2Bytes });
  if (r.state === 'error') {
    if (r.reason.length === 0 || r.reason.length > 200 || /[\r\n]/.test(r.reason)) fail('a reason that is empty, long or not one line', data, r);
    const longer = parseProxyHeader(Buffer.concat([data, Buffer.from('\r\n\x00')]), { accept, maxV2Bytes });
    if (longer.state !== 'error') fail('an error that more bytes turned into something else', data, longer);
    return r;
  }
  const limit = data[0] === 0x50 ? V1_MAX_BYTES : maxV2Bytes;
  if (r.state === 'more') {
    if (data.length >= limit) fail(`more after ${data.length} bytes, over the limit ${limit}`, data, r);
    return r;
  }
  if (r.consumed < 1 || r.consumed > data.length || r.consumed > limit) fail(`done with ${r.consumed} of ${data.length} bytes`, data, r);
  if ((r.version === 1) !== (data[0] === 0x50)) fail('a version its first byte does not start', data, r);
  checkEndpoint(r.source, data, r);
  checkEndpoint(r.destination, data, r);
  if ((r.source === undefined) !== (r.family === 'unknown')) fail('addresses and family disagree', data, r);
  const header = data.subarray(0, r.consumed);
  const alone = parseProxyHeader(header, { accept, maxV2Bytes });
  if (!isDeepStrictEqual(alone, r)) fail('the header alone reads otherwise', data, alone);
  for (let n = 0; prefixes && n < r.consumed; n++) {
    const part = parseProxyHeader(header.subarray(0, n), { accept, maxV2Bytes });
    if (part.state !== 'more') fail(`the first ${n} bytes of a header do not say more`, data, part);
  }
  if (r.source && r.destination) {
    const again = parseProxyHeader(encodeProxyHeader(r.version === 1 ? 'v1' : 'v2', r.source, r.destination));
    if (again.state !== 'done' || !isDeepStrictEqual(again.source, r.source) || !isDeepStrictEqual(again.destination, r.destination)) {
      fail('written again, the addresses read back otherwise', data, again);
    }
  }
  return r;
}

/** An IPv4-mapped IPv6 address as printed (`::ffff:1.2.3.4`; `::ffff:0:0:24:0` is not one). */
const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/;

/** `data` as two addresses of one family and two ports, written both ways and read back. */
export function checkEncode(data: Uint8Array): void {
  if (data.length < 1) return;
  const six = (data[0]! & 1) === 1;
  const size = six ? 16 : 4;
  if (data.length < 1 + 2 * size + 4) return;
  const bytes = Buffer.from(data.subarray(1, 1 + 2 * size + 4));
  const format = six ? formatIPv6 : formatIPv4;
  const source = { address: format(bytes, 0), port: bytes.readUInt16BE(2 * size) };
  const destination = { address: format(bytes, size), port: bytes.readUInt16BE(2 * size + 2) };
  for (const version of ['v1', 'v2'] as const) {
    const header = encodeProxyHeader(version, source, destination);
    const r = parseProxyHeader(Buffer.concat([header, data]));
    if (r.state !== 'done' || r.consumed !== header.length) fail(`${version} written does not read back`, data, r);
    // An IPv4-mapped pair is written as TCP4, so read back as plain IPv4.
    const plain = (e: Endpoint) => ({ address: e.address.replace(MAPPED, '$1'), port: e.port });
    const bothMapped = MAPPED.test(source.address) && MAPPED.test(destination.address);
    const want = bothMapped ? [plain(source), plain(destination)] : [source, destination];
    if (!isDeepStrictEqual([r.source, r.destination], want)) fail(`${version} written reads back other addresses`, data, r);
  }
}

export function fuzz(data: Buffer): void {
  for (const accept of MODES) for (const limit of LIMITS) checkParse(data, accept, limit, accept === 'any' && limit === LIMITS[0]);
  const any = parseProxyHeader(data);
  if (any.state === 'done') {
    const own = parseProxyHeader(data, { accept: any.version === 1 ? 'v1' : 'v2' });
    if (!isDeepStrictEqual(own, any)) fail('any and the version\'s own mode disagree', data, own);
  }
  checkEncode(data);
}

const v2 = (verCmd: number, fam: number, body: number[]) =>
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, verCmd, fam, body.length >> 8, body.length & 0xff, ...body]);

/** Headers good and bad, with and without data after them, for a starting corpus. */
export const SEEDS: readonly (string | Uint8Array)[] = [
  'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n',
  'PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n',
  'PROXY UNKNOWN\r\n',
  'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n',
  'PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n',
  'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n',
  'GET / HTTP/1.1\r\n',
  v2(0x21, 0x11, [127, 0, 0, 2, 127, 0, 0, 1, 0xd4, 0x31, 0x00, 0x50]),
  v2(0x21, 0x21, [...new Array<number>(15).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(12).fill(0), 0x12, 0x34, 0x00, 0x50]),
  v2(0x20, 0x00, []),
  v2(0x21, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0x04, 0x00, 0x02, 0, 0, 0x01, 0x00, 0x02, 0x68, 0x32]),
  v2(0x21, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0x04, 0x00, 0x09]),
  v2(0x21, 0x31, new Array<number>(216).fill(0x2f)),
  v2(0x31, 0x11, []),
];
