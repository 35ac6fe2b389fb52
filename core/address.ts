/** Parsing of `host:port` addresses and port ranges, shared by config and CLI. */
import { lazyNet } from './lazy-builtin.ts';

export interface HostPort {
  host: string;
  port: number | undefined;
}

const PORT_TEXT = /^\d{1,5}$/;
/** Longest host name: RFC 1035's 253 characters of text (a trailing dot aside). */
const HOST_MAX = 253;
/** A DNS label: 1-63 of A-Z a-z 0-9 _ -, neither end a "-". */
const LABEL = /^[A-Za-z0-9_](?:[\w-]{0,61}[A-Za-z0-9_])?$/;

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * True for an IPv4 address (dotted quad), an IPv6 address (a `%zone` allowed) or a DNS
 * name of labels within RFC 1035's bounds. Text of digits and dots must be an IPv4
 * address: `80`, `10.0.0` and `300.1.1.1` are refused, not handed to the resolver.
 */
export function isHost(host: string): boolean {
  if (host.length === 0 || host.length > HOST_MAX + 1) return false;
  if (host.includes(':')) return lazyNet().isIPv6(host);
  if (/^[\d.]+$/.test(host)) return lazyNet().isIPv4(host);
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name.length > 0 && name.length <= HOST_MAX && name.split('.').every((label) => LABEL.test(label));
}

function port(text: string): number | undefined {
  if (!PORT_TEXT.test(text)) return undefined;
  const n = Number(text);
  return isPort(n) ? n : undefined;
}

/** Host text as the syntax of `host:port` takes it; whether it is a usable host is `isHost`'s. */
const NAME_TEXT = /^[\w.-]+$/;

/**
 * `'10.0.0.1:80'`, `'[::1]:80'`, `'name.example:80'`, or a host alone (`'10.0.0.7'`,
 * `'::1'`, `'[::1]'`), whose port is then undefined. Undefined when malformed: brackets,
 * and a host with colons, hold an IPv6 address; a port is 1-65535. A name is taken as
 * written (letters, digits, ".", "_", "-"): check it with `isHost` for its bounds.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 2) return undefined;
    const host = s.slice(1, close);
    if (!lazyNet().isIPv6(host)) return undefined;
    const rest = s.slice(close + 1);
    if (rest === '') return { host, port: undefined };
    const p = rest.startsWith(':') ? port(rest.slice(1)) : undefined;
    return p === undefined ? undefined : { host, port: p };
  }
  const colons = s.split(':').length - 1;
  if (colons > 1) return lazyNet().isIPv6(s) ? { host: s, port: undefined } : undefined; // bare IPv6
  if (colons === 0) return NAME_TEXT.test(s) ? { host: s, port: undefined } : undefined;
  const [host, portText] = s.split(':') as [string, string];
  const p = port(portText);
  return p !== undefined && NAME_TEXT.test(host) ? { host, port: p } : undefined;
}

/** `host:port` text that `parseHostPort` reads back as `hp` (brackets round an IPv6 host). */
export function formatHostPort(hp: HostPort): string {
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return hp.port === undefined ? host : `${host}:${hp.port}`;
}

/** `8080`, `'8080'` or `'50000-50100'` as an inclusive range; undefined when malformed. */
export function parsePortRange(value: unknown): { from: number; to: number } | undefined {
  if (typeof value === 'number') return isPort(value) ? { from: value, to: value } : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(value);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return isPort(from) && isPort(to) && from <= to ? { from, to } : undefined;
}

/** `'8080'` or `'50000-50100'`: text that `parsePortRange` reads back as the range. */
export function formatPortRange(range: { from: number; to: number }): string {
  return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`;
}
