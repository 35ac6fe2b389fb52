/**
 * Properties of core/address.ts: parseHostPort (node addresses, probe targets), isHost (the
 * bounds a host is held to), parsePortRange (listener ports) and their printers. fast-check
 * with a fixed seed (FC_SEED overrides it; a failure prints the seed and path to replay) and
 * bounded runs. The plain tests at the end are the bugs these properties found, kept as
 * regressions.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { formatHostPort, formatPortRange, isHost, isPort, parseHostPort, parsePortRange, type HostPort } from '../../core/address.ts';

const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

const port = fc.integer({ min: 1, max: 65535 });
const badPort = fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 99999 }), fc.integer({ min: 100000, max: 2 ** 40 }));
const zone = fc.stringMatching(/^[A-Za-z0-9]{1,8}$/);
const ipv6 = fc.oneof(fc.ipV6(), fc.tuple(fc.ipV6(), zone).map(([ip, z]) => `fe80::${ip.length % 7}%${z}`));
const host = fc.oneof(fc.ipV4(), ipv6, fc.domain(), fc.constantFrom('localhost', 'node_1.internal.', 'db-2'));
/** Text made of what addresses are made of, to hit the parser's corners. */
const addressish = fc.string({ unit: fc.constantFrom(...'0123456789abcdef:.[]%-_ xz'), maxLength: 30 });

/** What a parsed address must be, whatever the text: a usable host text, a port 1-65535. */
function wellFormed(hp: HostPort | undefined): boolean {
  if (hp === undefined) return true;
  if (hp.port !== undefined && !isPort(hp.port)) return false;
  return hp.host.includes(':') ? isIPv6(hp.host) : /^[\w.-]+$/.test(hp.host);
}

const never = suite('address: never throws; what it accepts is well formed');

never('any text at all', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (t) => wellFormed(parseHostPort(t)) && typeof isHost(t) === 'boolean'), runs(2000));
});

never('text of the characters addresses use', () => {
  fc.assert(fc.property(addressish, (t) => wellFormed(parseHostPort(t))), runs(3000));
});

never('parsePortRange on any value', () => {
  fc.assert(
    fc.property(fc.oneof(fc.anything(), addressish, fc.double()), (v) => {
      const r = parsePortRange(v);
      return r === undefined || (isPort(r.from) && isPort(r.to) && r.from <= r.to);
    }),
    runs(2000),
  );
});

const trip = suite('address: IPv4, IPv6, brackets, names and ranges round-trip');

trip('host:port, [v6]:port and a host alone parse to their parts', () => {
  fc.assert(
    fc.property(host, fc.option(port, { nil: undefined }), (h, p) => {
      assert.equal(parseHostPort(formatHostPort({ host: h, port: p })), { host: h, port: p });
      assert.ok(isHost(h), h);
    }),
    runs(2000),
  );
});

trip('a bare IPv6 address is a host alone; [v6] is the same host', () => {
  fc.assert(
    fc.property(ipv6, (ip) => {
      assert.equal(parseHostPort(ip), { host: ip, port: undefined });
      assert.equal(parseHostPort(`[${ip}]`), { host: ip, port: undefined });
    }),
    runs(1000),
  );
});

trip('blanks around the text do not matter', () => {
  const blank = fc.constantFrom('', ' ', '\t', '\n ');
  fc.assert(
    fc.property(host, port, blank, blank, (h, p, a, b) => {
      const text = formatHostPort({ host: h, port: p });
      assert.equal(parseHostPort(`${a}${text}${b}`), parseHostPort(text));
    }),
    runs(500),
  );
});

trip('what parses, printed again, parses to the same', () => {
  fc.assert(
    fc.property(fc.oneof(addressish, host.map((h) => formatHostPort({ host: h, port: 80 }))), (t) => {
      const hp = parseHostPort(t);
      if (hp) assert.equal(parseHostPort(formatHostPort(hp)), hp);
    }),
    runs(2000),
  );
});

trip('a port, a range, and their printed forms', () => {
  fc.assert(
    fc.property(port, port, (a, b) => {
      const from = Math.min(a, b);
      const to = Math.max(a, b);
      assert.equal(parsePortRange(formatPortRange({ from, to })), { from, to });
      assert.equal(parsePortRange(a), { from: a, to: a });
      assert.equal(parsePortRange(` ${from} - ${to} `), { from, to });
      if (from < to) assert.is(parsePortRange(`${to}-${from}`), undefined);
    }),
    runs(1000),
  );
});

const refuse = suite('address: out-of-range ports and hosts that are no host are refused');

refuse('ports 0 and above 65535, in an address or a range', () => {
  fc.assert(
    fc.property(host, badPort, port, (h, bad, good) => {
      assert.is(parseHostPort(`${h.includes(':') ? `[${h}]` : h}:${bad}`), undefined);
      assert.is(parsePortRange(bad), undefined);
      assert.is(parsePortRange(String(bad)), undefined);
      assert.is(parsePortRange(`${good}-${bad}`), undefined);
    }),
    runs(1000),
  );
});

refuse('brackets hold an IPv6 address and nothing else', () => {
  const notV6 = fc.oneof(fc.ipV4(), fc.domain(), fc.string({ unit: fc.constantFrom(...'xyz .:/@#\n'), minLength: 1, maxLength: 12 }));
  fc.assert(
    fc.property(notV6, fc.option(port, { nil: undefined }), (inside, p) => {
      fc.pre(!isIPv6(inside) && !inside.includes(']'));
      assert.is(parseHostPort(`[${inside}]${p === undefined ? '' : `:${p}`}`), undefined);
    }),
    runs(1000),
  );
});

refuse('digits and dots that are no IPv4 address are no host', () => {
  const dotted = fc.array(fc.nat({ max: 999 }), { minLength: 1, maxLength: 6 }).map((ns) => ns.join('.'));
  fc.assert(fc.property(dotted, (t) => isHost(t) === isIPv4(t)), runs(1000));
});

refuse('a host name is at most 253 characters of labels of 1-63', () => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,70}[a-z0-9])?$/);
  fc.assert(
    fc.property(fc.array(label, { minLength: 1, maxLength: 6 }), (labels) => {
      const name = `${labels.join('.')}x`;
      const ok = name.length <= 253 && name.split('.').every((l) => l.length <= 63);
      return isHost(name) === ok;
    }),
    runs(1000),
  );
});

const found = suite('address: bugs the properties found (regressions)');

found('brackets round what is no IPv6 address are refused', () => {
  for (const text of ['[foo]:80', '[1.2.3.4]:80', '[ :: ]', '[\n]:80', '[a b]']) assert.is(parseHostPort(text), undefined, JSON.stringify(text));
});

found('colons that make no IPv6 address are refused', () => {
  for (const text of ['a:b:c', ':::::', '1:2:3', '::1::2']) assert.is(parseHostPort(text), undefined, text);
});

found('a host of digits and dots must be an IPv4 address; a host name keeps to its bounds', () => {
  for (const h of ['80', '10.0.0', '300.1.1.1', '1.2.3.4.5', '01.2.3.4', `${'a'.repeat(64)}.x`, 'a..b', '-a.x', `${'a.'.repeat(127)}ab`]) {
    assert.not.ok(isHost(h), h);
  }
  for (const h of ['10.0.0.1', 'localhost', 'node_1.internal.', '::1', 'fe80::1%eth0', `${'a'.repeat(63)}.x`]) assert.ok(isHost(h), h);
});

never.run();
trip.run();
refuse.run();
found.run();
