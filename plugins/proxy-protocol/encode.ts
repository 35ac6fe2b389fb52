/**
 * The PROXY protocol writer: the header a node reads first, naming the client (source) and
 * the address it dialled (destination), as haproxy's doc/proxy-protocol.txt sets them out.
 *
 * - Both addresses IPv4 (IPv4-mapped IPv6 counts as IPv4: it is an IPv4 client on a
 *   dual-stack socket): TCP4 / AF_INET.
 * - Otherwise, both IPv6 (an IPv4 one written IPv4-mapped): TCP6 / AF_INET6. The two
 *   addresses of a header are of one family; they can differ here only when a preface gave
 *   the client's address from another network than the one the listener is on.
 * - An address that is no IP, or a port outside 0-65535 (a socket already gone reads as
 *   `''`): v1 `PROXY UNKNOWN`, v2 LOCAL. The spec has receivers take both and use the
 *   connection's own addresses, which is the truth we could not tell.
 */
import { formatIPv4, formatIPv6, ipBytes, mapped, type IpBytes } from './ip.ts';
import { V2_SIGNATURE, type Endpoint } from './parse.ts';

export type Version = 'v1' | 'v2';

interface Pair {
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
}

const validPort = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;

/** Both addresses in one family, or undefined when either is no IP address. */
function pair(source: Endpoint, destination: Endpoint): Pair | undefined {
  const s = ipBytes(source.address);
  const d = ipBytes(destination.address);
  if (!s || !d || !validPort(source.port) || !validPort(destination.port)) return undefined;
  if (s.family === 4 && d.family === 4) return { family: 4, src: s.bytes, dst: d.bytes };
  const six = (a: IpBytes) => (a.family === 4 ? mapped(a.bytes) : a.bytes);
  return { family: 6, src: six(s), dst: six(d) };
}

/** `PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n`, at most 104 bytes. */
export function encodeV1(source: Endpoint, destination: Endpoint): Buffer {
  const p = pair(source, destination);
  if (!p) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const format = p.family === 4 ? formatIPv4 : formatIPv6;
  return Buffer.from(`PROXY TCP${p.family} ${format(p.src)} ${format(p.dst)} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** The binary header: 28 bytes for TCP over IPv4, 52 for IPv6, 16 for LOCAL. No TLVs. */
export function encodeV2(source: Endpoint, destination: Endpoint): Buffer {
  const p = pair(source, destination);
  const addressBytes = p === undefined ? 0 : p.family === 4 ? 12 : 36;
  const out = Buffer.alloc(16 + addressBytes);
  V2_SIGNATURE.copy(out, 0);
  if (!p) {
    out[12] = 0x20; // version 2, LOCAL
    out[13] = 0x00; // AF_UNSPEC, UNSPEC
    return out;
  }
  out[12] = 0x21; // version 2, PROXY
  out[13] = p.family === 4 ? 0x11 : 0x21; // AF_INET / AF_INET6, STREAM
  out.writeUInt16BE(addressBytes, 14);
  out.set(p.src, 16);
  out.set(p.dst, 16 + p.src.length);
  out.writeUInt16BE(source.port, 16 + 2 * p.src.length);
  out.writeUInt16BE(destination.port, 18 + 2 * p.src.length);
  return out;
}

export function encodeProxyHeader(version: Version, source: Endpoint, destination: Endpoint): Buffer {
  return version === 'v1' ? encodeV1(source, destination) : encodeV2(source, destination);
}
