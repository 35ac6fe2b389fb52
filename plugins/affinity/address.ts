/**
 * One text per client host, whatever form the socket reported it in, so that affinity
 * keys one client once:
 *
 * - IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a dual-stack listener reports for an IPv4
 *   client) becomes the IPv4 address `10.0.0.1`;
 * - IPv6 is lower-cased and compressed to its canonical text (RFC 5952: `::0:1`,
 *   `0:0::1` and `0000::0001` are all `::1`); a zone (`fe80::1%eth0`) is kept, since
 *   the same link-local address on two interfaces is two hosts;
 * - IPv4 is kept as it is (sockets report it canonical);
 * - anything else (an empty address, a name) is kept as it is, trimmed.
 */
import { lazyNet } from 'protobalance';

const MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;

export function normalizeClientAddress(address: string): string {
  const text = address.trim();
  if (lazyNet().isIPv4(text)) return text;
  if (!text.includes(':')) return text;
  // What a dual-stack listener reports for IPv4 clients, quickly.
  if (text.length <= 22 && text.slice(0, 7).toLowerCase() === '::ffff:' && lazyNet().isIPv4(text.slice(7))) return text.slice(7);
  const zoneAt = text.indexOf('%');
  const ip = zoneAt < 0 ? text : text.slice(0, zoneAt);
  const zone = zoneAt < 0 ? '' : text.slice(zoneAt);
  if (!lazyNet().isIPv6(ip)) return text;
  let canonical: string;
  try {
    // inet_ntop's text: lower case, the longest run of zero groups compressed.
    canonical = new (lazyNet().SocketAddress)({ address: ip, family: 'ipv6' }).address;
  } catch {
    return text.toLowerCase();
  }
  const mapped = MAPPED.exec(canonical);
  if (mapped) return mapped[1]!;
  return canonical + zone;
}
