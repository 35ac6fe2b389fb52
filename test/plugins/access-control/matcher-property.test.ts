/**
 * Properties of the access-control matcher against a reference written the slow, obvious
 * way (BigInt, 128-bit values, Node's own address validator): random networks and
 * addresses, many near the rules' edges, must get the same answer from both; and an IPv4
 * client or rule means the same whether written `a.b.c.d` or IPv4-mapped.
 * fast-check with a fixed seed (FC_SEED overrides it; a failure prints seed and path).
 */
import { isIP, isIPv4 } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { parseAddress, V4 } from '../../../plugins/access-control/address.ts';
import { NetworkSet, parseNetwork, parseNetworks } from '../../../plugins/access-control/networks.ts';
import { listenerRules, refusalFor } from '../../../plugins/access-control/rules.ts';

const SEED = Number(process.env.FC_SEED ?? 20_261_130);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

// ─── the reference ──────────────────────────────────────────────────────────

const MAPPED = 0xffffn << 32n;

/** Text to a 128-bit value (IPv4 as ::ffff:a.b.c.d), by string surgery and Node's validator. */
function refValue(text: string): bigint | undefined {
  if (isIP(text) === 0 || text.includes('%')) return undefined;
  if (isIPv4(text)) return MAPPED | text.split('.').reduce((v, p) => (v << 8n) | BigInt(p), 0n);
  let t = text;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    t = `${t.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = t.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const isV4 = (v: bigint): boolean => v >> 32n === 0xffffn;

/** A rule as (value, prefix bits in 128-bit space, family); mapped /96+ rules are IPv4. */
function refRule(text: string): { net: bigint; bits: number; v4: boolean } {
  const [a, p] = text.split('/') as [string, string | undefined];
  const v = refValue(a)!;
  const bits = p === undefined ? 128 : a.includes(':') ? Number(p) : Number(p) + 96;
  return { net: v, bits, v4: bits >= 96 && isV4(v) };
}

function refCovers(rule: string, address: string): boolean {
  const r = refRule(rule);
  const v = refValue(address)!;
  if (r.v4 !== isV4(v)) return false;
  const shift = BigInt(128 - r.bits);
  return v >> shift === r.net >> shift;
}

function refRefused(allow: string[] | undefined, deny: string[] | undefined, address: string): boolean {
  if (deny?.some((r) => refCovers(r, address))) return true;
  return allow !== undefined && !allow.some((r) => refCovers(r, address));
}

// ─── generators ─────────────────────────────────────────────────────────────

const v4Text = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const hex = (n: number): string => n.toString(16);

/** 128-bit value to text: full groups, '::' compressed at a random place, or a dotted tail. */
function v6Text(v: bigint, style: number): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
  if (style % 3 === 2) {
    const tail = Number(v & 0xffffffffn);
    return `${g.slice(0, 6).map(hex).join(':')}:${v4Text(tail)}`;
  }
  const zeroRun = g.findIndex((x, i) => x === 0 && g[i + 1] === 0);
  if (style % 3 === 1 && zeroRun >= 0) {
    let end = zeroRun;
    while (end < 8 && g[end] === 0) end++;
    return `${g.slice(0, zeroRun).map(hex).join(':')}::${g.slice(end).map(hex).join(':')}`;
  }
  return g.map(hex).join(':');
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** IPv6 values, often with long zero runs and in a few shared /32s, so rules hit. */
const v6Value = fc
  .tuple(fc.constantFrom(0x20010db8, 0x20010db9, 0xfe800000, 0, 0xffffffff), u32, fc.constantFrom(0, 1, 0xffff), u32, fc.boolean())
  .map(([a, b, c, d, sparse]) => (BigInt(a) << 96n) | (sparse ? 0n : BigInt(b) << 64n) | (BigInt(c) << 32n) | BigInt(d))
  .filter((v) => !isV4(v));
/** IPv4 values, clustered in a few /8s so rules hit. */
const v4Value = fc.tuple(fc.constantFrom(10, 127, 192, 0, 255), u32).map(([top, rest]) => ((top << 24) | (rest & 0xffffff)) >>> 0);

/** An address as a client may show it: dotted, mapped dotted, mapped hex, or IPv6. */
const address = fc.oneof(
  v4Value.map(v4Text),
  v4Value.map((v) => `::ffff:${v4Text(v)}`),
  fc.tuple(v6Value, fc.nat(5)).map(([v, s]) => v6Text(v, s)),
  fc.ipV4(),
  fc.ipV6(),
);

/** A rule derived from an address (so it often covers others near it), in any spelling. */
const rule = fc.oneof(
  fc.tuple(v4Value, fc.integer({ min: 0, max: 32 }), fc.nat(3)).map(([v, p, style]) => {
    const net = p === 0 ? 0 : (v & ((0xffffffff << (32 - p)) >>> 0)) >>> 0;
    if (style === 0) return `::ffff:${v4Text(net)}/${p + 96}`;
    return p === 32 && style === 1 ? v4Text(net) : `${v4Text(net)}/${p}`;
  }),
  fc.tuple(v6Value, fc.integer({ min: 0, max: 128 }), fc.nat(5)).map(([v, p, style]) => {
    const net = p === 0 ? 0n : (v >> BigInt(128 - p)) << BigInt(128 - p);
    return `${v6Text(net, style)}/${p}`;
  }),
);
const rules = fc.array(rule, { maxLength: 12 });

// ─── properties ─────────────────────────────────────────────────────────────

const parse = suite('access-control matcher: address parsing against the reference');

parse('every address reads as the reference reads it (families and values)', () => {
  fc.assert(
    fc.property(address, (text) => {
      const out = new Uint32Array(4);
      const family = parseAddress(text, out);
      const ref = refValue(text)!;
      const value = out.reduce((v, w) => (v << 32n) | BigInt(w), 0n);
      return family === (isV4(ref) ? V4 : 6) && value === ref;
    }),
    runs(3000),
  );
});

parse('accepts exactly what Node calls an IP address, over text made of address characters', () => {
  const unit = fc.constantFrom(...'0123456789abcdefABCDEF:.:.xg0');
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit, maxLength: 45 }), address), (text) => (parseAddress(text, new Uint32Array(4)) !== 0) === (isIP(text) !== 0)),
    runs(5000),
  );
});

const match = suite('access-control matcher: sets and verdicts against the reference');

match('a set finds a rule exactly when some rule covers the address, and that rule covers it', () => {
  fc.assert(
    fc.property(rules, fc.array(address, { minLength: 1, maxLength: 20 }), (list, clients) => {
      const { networks, problems } = parseNetworks(list);
      assert.equal(problems, []);
      const set = new NetworkSet(networks);
      const out = new Uint32Array(4);
      for (const client of clients) {
        const family = parseAddress(client, out) as 4 | 6;
        const found = set.find(family, out);
        const expected = list.some((r) => refCovers(r, client));
        if ((found !== undefined) !== expected) return false;
        if (found !== undefined && !refCovers(found, client)) return false;
      }
      return true;
    }),
    runs(1500),
  );
});

match('verdicts: deny wins, allow limits, as the reference says', () => {
  const maybe = fc.option(rules, { nil: undefined });
  fc.assert(
    fc.property(maybe, maybe, fc.array(address, { minLength: 1, maxLength: 10 }), (allow, deny, clients) => {
      const compiled = listenerRules('l', allow, deny);
      return clients.every((c) => (refusalFor(compiled, c) !== undefined) === refRefused(allow, deny, c));
    }),
    runs(1500),
  );
});

const mapped = suite('access-control matcher: IPv4 and IPv4-mapped are one');

mapped('a client gets the same verdict as a.b.c.d, ::ffff:a.b.c.d and ::ffff:hhhh:hhhh', () => {
  fc.assert(
    fc.property(rules, rules, v4Value, (allow, deny, v) => {
      const compiled = listenerRules('l', allow, deny);
      const forms = [v4Text(v), `::ffff:${v4Text(v)}`, `::ffff:${hex(v >>> 16)}:${hex(v & 0xffff)}`, `0:0:0:0:0:FFFF:${v4Text(v)}`];
      const verdicts = forms.map((f) => refusalFor(compiled, f) === undefined);
      return verdicts.every((x) => x === verdicts[0]);
    }),
    runs(1500),
  );
});

mapped('a rule a.b.c.d/p covers what ::ffff:a.b.c.d/(96+p) covers', () => {
  fc.assert(
    fc.property(v4Value, fc.integer({ min: 0, max: 32 }), fc.array(address, { maxLength: 20 }), (v, p, clients) => {
      const net = p === 0 ? 0 : (v & ((0xffffffff << (32 - p)) >>> 0)) >>> 0;
      const plain = new NetworkSet([parseNetwork(`${v4Text(net)}/${p}`) as never]);
      const asMapped = new NetworkSet([parseNetwork(`::ffff:${v4Text(net)}/${p + 96}`) as never]);
      const out = new Uint32Array(4);
      return [v4Text(v), ...clients].every((c) => {
        const family = parseAddress(c, out) as 4 | 6;
        return (plain.find(family, out) === undefined) === (asMapped.find(family, out) === undefined);
      });
    }),
    runs(1500),
  );
});

parse.run();
match.run();
mapped.run();
