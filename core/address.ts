/** Parsing of `host:port` addresses and port ranges, shared by config and CLI. */

export interface HostPort {
  host: string;
  port: number | undefined;
}

const PORT_TEXT = /^\d{1,5}$/;

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * `'10.0.0.1:80'`, `'[::1]:80'`, `'name.example:80'`, or a host alone (`'10.0.0.7'`,
 * `'::1'`, `'[::1]'`), whose port is then undefined. Undefined when malformed.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 2) return undefined;
    const host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest === '') return { host, port: undefined };
    if (!rest.startsWith(':') || !PORT_TEXT.test(rest.slice(1))) return undefined;
    const port = Number(rest.slice(1));
    return isPort(port) ? { host, port } : undefined;
  }
  const colons = s.split(':').length - 1;
  if (colons > 1) return /^[0-9a-fA-F:.]+$/.test(s) ? { host: s, port: undefined } : undefined; // bare IPv6
  if (colons === 0) return /^[\w.-]+$/.test(s) ? { host: s, port: undefined } : undefined;
  const [host, portText] = s.split(':') as [string, string];
  if (!/^[\w.-]+$/.test(host) || !PORT_TEXT.test(portText)) return undefined;
  const port = Number(portText);
  return isPort(port) ? { host, port } : undefined;
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
