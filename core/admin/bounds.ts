/**
 * The bounds of what the admin API takes, and the checkers that hold input to them. Each
 * checker returns the checked value or throws a `Refusal` (400) whose message names the
 * field and shows the value cut short, so that no answer or log line grows with the input.
 *
 *   names      ids of nodes, cluster and listener names: 1-128 characters of A-Z a-z 0-9
 *              . _ -, the first a letter or digit (the config's name pattern, bounded)
 *   hosts      an IPv4 or IPv6 address, or a DNS name: at most 253 characters, labels of
 *              1-63 characters of A-Z a-z 0-9 _ - (a trailing dot allowed)
 *   ports      1-65535
 *   clients    (affinity) an IPv4 or IPv6 address, at most 64 characters with its zone
 *   factors    load factors: a number from 0.001 to 1000
 *   durations  a node's connectTimeout, its probe's interval and timeout: at most 24 days
 *              (the longest delay a Node timer keeps; a longer one fires at once)
 *   probe.url  at most 2048 characters
 */
import { isHost as isConfigHost, parseHostPort } from '../address.ts';
import { LOAD_FACTOR } from '../config-defaults.ts';
import { parseDuration } from '../duration.ts';
import { lazyNet } from '../lazy-builtin.ts';

export const BOUNDS = {
  /** Longest id or name. */
  name: 128,
  /** Longest host name (RFC 1035's 253 characters of text). */
  host: 253,
  /** Longest DNS label. */
  label: 63,
  /** Longest client address, zone included. */
  client: 64,
  /** Smallest and largest load factor. */
  factorMin: LOAD_FACTOR.min,
  factorMax: LOAD_FACTOR.max,
  /** Longest duration in milliseconds: 24 days, under a Node timer's 2^31-1 ms. */
  durationMs: 24 * 86_400_000,
  /** Longest probe URL. */
  url: 2048,
} as const;

/**
 * A refused request: the HTTP status (4xx), the message naming the path, the body or the
 * field, and any headers the status calls for (`allow` with 405, `www-authenticate` with 401).
 */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

/** Text for a value in a message: short whatever the value (a string is cut to 40 characters). */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value !== 'string') return String(value);
  if (value.length <= 40) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`;
}

const bad = (field: string, expected: string, got: unknown) => new Refusal(400, `${field}: expected ${expected}, got ${shown(got)}`);

const NAME = new RegExp(`^[A-Za-z0-9][\\w.-]{0,${BOUNDS.name - 1}}$`);
const NAME_TEXT = `a name of 1-${BOUNDS.name} letters, digits, ".", "_" or "-" (the first a letter or digit)`;

export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

/** An id or a cluster or listener name. */
export function checkName(field: string, value: unknown): string {
  if (!isName(value)) throw bad(field, NAME_TEXT, value);
  return value;
}

/** True for an IP address or a DNS name within the bounds above (the config's rule, core/address.ts). */
export function isHost(host: string): boolean {
  return isConfigHost(host) && (!host.includes(':') || host.length <= BOUNDS.client);
}

const HOST_TEXT = `an IP address or a host name (at most ${BOUNDS.host} characters, labels of 1-${BOUNDS.label} letters, digits, "_" or "-")`;

/**
 * `host:port` (`[v6]:port` for IPv6), with the host and port within bounds. With
 * `hostAlone`, a host alone too (a node's address: the port the client dialled).
 */
export function checkAddress(field: string, value: unknown, hostAlone = false): string {
  if (typeof value !== 'string') throw bad(field, '"host:port"', value);
  // "[" host "]:65535" at the most, blanks round it aside.
  if (value.trim().length > BOUNDS.host + 8) throw bad(field, `"host:port" with a host of at most ${BOUNDS.host} characters`, value);
  const hp = parseHostPort(value);
  if (!hp) {
    const port = /:(\d+)$/.exec(value.trim())?.[1];
    if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) throw bad(field, 'a port 1-65535 in "host:port"', value);
    throw bad(field, '"host:port"', value);
  }
  if (hp.port === undefined && !hostAlone) throw bad(field, '"host:port"', value);
  if (!isHost(hp.host)) throw bad(field, `"host:port" whose host is ${HOST_TEXT}`, value);
  return value;
}

/** A client address as affinity keys it: an IPv4 or IPv6 address (a zone allowed). */
export function checkClient(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > BOUNDS.client || lazyNet().isIP(value) === 0) {
    throw bad(field, `an IPv4 or IPv6 address (at most ${BOUNDS.client} characters)`, value);
  }
  return value;
}

/**
 * A load factor. Not a number, or not above 0, keeps the wording of the config's check
 * ("a number greater than 0"); a positive number out of bounds names the bounds.
 */
export function checkLoadFactor(field: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0)) throw bad(field, 'a number greater than 0', value);
  if (!(value >= BOUNDS.factorMin && value <= BOUNDS.factorMax)) {
    throw bad(field, `a number from ${BOUNDS.factorMin} to ${BOUNDS.factorMax}`, value);
  }
  return value;
}

/** A duration, when given, no longer than `BOUNDS.durationMs` (its form is the config's to check). */
export function checkDurationBound(field: string, value: unknown): void {
  if (value === undefined) return;
  const ms = parseDuration(value);
  if (ms !== undefined && ms > BOUNDS.durationMs) throw bad(field, 'a duration of at most "24d"', value);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The bounds of a node added at run time (`POST /api/clusters/<c>/nodes`). The rest of its
 * shape (unknown fields, duration forms, the probe's parts) is the config's check
 * (`resolveNodeConfig`), which runs after this one.
 */
export function checkNodeBounds(body: Record<string, unknown>): void {
  checkName('id', body.id);
  checkAddress('address', body.address, true);
  if (body.loadFactor !== undefined) checkLoadFactor('loadFactor', body.loadFactor);
  if (body.fallover !== undefined) checkName('fallover', body.fallover);
  checkDurationBound('connectTimeout', body.connectTimeout);
  const probe = body.probe;
  if (!isObj(probe)) return;
  if (typeof probe.url === 'string' && probe.url.length > BOUNDS.url) throw bad('probe.url', `a URL of at most ${BOUNDS.url} characters`, probe.url);
  if (probe.tcp !== undefined) checkAddress('probe.tcp', probe.tcp);
  checkDurationBound('probe.interval', probe.interval);
  checkDurationBound('probe.timeout', probe.timeout);
}
