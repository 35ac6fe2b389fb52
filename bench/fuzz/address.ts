/**
 * Coverage-guided fuzz target (@jazzer.js/core) for addresses and ports (core/address.ts:
 * `parseHostPort` for node addresses and probe targets, `isHost` for the bounds a host is
 * held to, `parsePortRange` for listener ports). Run as `npm run fuzz -- address --seconds N`.
 *
 * `fuzz(data)` reads `data` as UTF-8 text and throws only when a promise is broken, a real bug:
 * - nothing throws;
 * - an address read has a port 1-65535 (or none) and a host that is an IPv6 address (when
 *   it has a colon) or text of letters, digits, ".", "_", "-"; printed (`formatHostPort`),
 *   it reads back the same;
 * - a host `isHost` takes, printed with a port, reads back as that host and port;
 * - a range read is 1-65535, from <= to, and printed (`formatPortRange`) reads back the same.
 * test/core/address-fuzz.test.ts holds the same properties for fast-check, and the inputs
 * this target found, as regressions.
 */
import { isIPv6 } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { formatHostPort, formatPortRange, isHost, isPort, parseHostPort, parsePortRange } from '../../core/address.ts';

function fail(what: string, text: string, got: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(text.slice(0, 200))} gave ${JSON.stringify(got)}`);
}

export function checkAddress(text: string): void {
  const hp = parseHostPort(text);
  if (hp) {
    if (hp.port !== undefined && !isPort(hp.port)) fail('a port out of 1-65535', text, hp);
    if (hp.host.includes(':') ? !isIPv6(hp.host) : !/^[\w.-]+$/.test(hp.host)) fail('a host that is no host text', text, hp);
    const again = parseHostPort(formatHostPort(hp));
    if (!isDeepStrictEqual(again, hp)) fail(`printed as ${formatHostPort(hp)}, it reads back otherwise`, text, again);
  }
  if (isHost(text)) {
    const withPort = parseHostPort(formatHostPort({ host: text, port: 80 }));
    if (!isDeepStrictEqual(withPort, { host: text, port: 80 })) fail('a host isHost takes does not read back with a port', text, withPort);
  }
  const range = parsePortRange(text);
  if (range) {
    if (!isPort(range.from) || !isPort(range.to) || range.from > range.to) fail('a range out of 1-65535 or reversed', text, range);
    const again = parsePortRange(formatPortRange(range));
    if (!isDeepStrictEqual(again, range)) fail('a range printed reads back otherwise', text, again);
  }
}

export function fuzz(data: Buffer): void {
  checkAddress(data.toString('utf8'));
}

/** Addresses and ranges good and bad, for a starting corpus. */
export const SEEDS: readonly string[] = [
  '10.0.0.1:80', '[::1]:80', '[fe80::1%eth0]:443', '::ffff:10.0.0.1', 'name.example:8080', 'node_1.internal.:9', '10.0.0.7', '[::1]',
  '300.1.1.1:80', '10.0.0.1:99999', '[foo]:80', 'a:b:c', '8080', '50000-50100', ' 1 - 2 ', '65535-1', 'localhost',
];
