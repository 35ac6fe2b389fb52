/**
 * Properties of the PROXY protocol reader and writer, with fast-check (a fixed seed;
 * FC_SEED replays another, a failure prints the seed and path): what is written reads
 * back; every proper prefix of a header says `more`; fed in pieces it reads as at once;
 * arbitrary bytes never throw and never consume more than they are. The coverage-guided
 * target (bench/fuzz/proxy-protocol.ts) is driven here too, on its seeds and on
 * generated near-headers, so its promises are checked by every test run.
 */
import fc from 'fast-check';
import { SocketAddress } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkEncode, checkParse, fuzz, SEEDS } from '../../../bench/fuzz/proxy-protocol.ts';
import { encodeProxyHeader } from '../../../plugins/proxy-protocol/encode.ts';
import { parseProxyHeader, V2_SIGNATURE, type Accept, type ParseResult } from '../../../plugins/proxy-protocol/parse.ts';

const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

/** An address as a socket prints it (the reader prints that form too). */
const v4 = fc.ipV4();
/** IPv6 but IPv4-mapped (a mapped pair is written as TCP4: its own property below). */
const v6 = fc
  .ipV6()
  .map((a) => new SocketAddress({ address: a, family: 'ipv6' }).address)
  .filter((a) => !a.startsWith('::ffff:') || !a.includes('.'));
const port = fc.integer({ min: 0, max: 65535 });
const endpoint = (address: fc.Arbitrary<string>) => fc.record({ address, port });
const version = fc.constantFrom<'v1' | 'v2'>('v1', 'v2');
const after = fc.uint8Array({ maxLength: 64 });

/** Headers of every kind a sender may write, valid by construction. */
const tlv = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })).map(([t, v]) => Buffer.concat([Buffer.from([t, v.length >> 8, v.length & 0xff]), v]));
function v2With(verCmd: number, fam: number, body: Uint8Array): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, fam, body.length >> 8, body.length & 0xff]), body]);
}
const anyHeader: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(version, endpoint(v4), endpoint(v4)).map(([v, s, d]) => encodeProxyHeader(v, s, d)),
  fc.tuple(version, endpoint(v6), endpoint(v6)).map(([v, s, d]) => encodeProxyHeader(v, s, d)),
  fc.string({ unit: fc.constantFrom(...'abcdef0123456789:. xyz%'), maxLength: 90 }).map((rest) => Buffer.from(`PROXY UNKNOWN${rest === '' ? '' : ` ${rest}`}\r\n`, 'latin1')),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 })).map(([fam, body]) => v2With(0x20, fam, body)),
  fc.tuple(fc.constantFrom(0x11, 0x21), fc.uint8Array({ minLength: 36, maxLength: 36 }), fc.array(tlv, { maxLength: 3 })).map(([fam, addr, tlvs]) =>
    v2With(0x21, fam, Buffer.concat([addr.subarray(0, fam === 0x11 ? 12 : 36), ...tlvs])),
  ),
).filter((h) => h.length <= 232);

const round = suite('written, then read: the same addresses');

round('IPv4 and IPv6 pairs, both versions, with client data after the header', () => {
  fc.assert(
    fc.property(version, fc.oneof(fc.tuple(endpoint(v4), endpoint(v4)), fc.tuple(endpoint(v6), endpoint(v6))), after, (v, [s, d], rest) => {
      const header = encodeProxyHeader(v, s, d);
      const r = parseProxyHeader(Buffer.concat([header, rest]));
      assert.equal(r, { state: 'done', version: v === 'v1' ? 1 : 2, consumed: header.length, command: 'proxy', family: s.address.includes(':') ? 'tcp6' : 'tcp4', source: { ...s }, destination: { ...d } });
    }),
    runs(1500),
  );
});

round('an IPv4-mapped client is written as TCP4 and reads back as plain IPv4', () => {
  fc.assert(
    fc.property(version, endpoint(v4), endpoint(v4), (v, s, d) => {
      const header = encodeProxyHeader(v, { address: `::ffff:${s.address}`, port: s.port }, { address: `::ffff:${d.address}`, port: d.port });
      const r = parseProxyHeader(header);
      return r.state === 'done' && r.family === 'tcp4' && r.source?.address === s.address && r.destination?.address === d.address;
    }),
    runs(500),
  );
});

round('the checks of the fuzz target hold for generated address bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 13, maxLength: 40 }), (b) => checkEncode(b)), runs(1000));
});

const prefix = suite('a header cut short says more');

prefix('every proper prefix of any valid header', () => {
  fc.assert(
    fc.property(anyHeader, fc.constantFrom<Accept>('any', 'v1', 'v2'), (h, accept) => {
      const whole = parseProxyHeader(h, { accept });
      const mine = accept === 'any' || (accept === 'v1') === (h[0] === 0x50);
      if (!mine) return whole.state === 'error';
      if (whole.state !== 'done' || whole.consumed !== h.length) return false;
      for (let n = 0; n < h.length; n++) if (parseProxyHeader(h.subarray(0, n), { accept }).state !== 'more') return false;
      return true;
    }),
    runs(1000),
  );
});

prefix('fed in arbitrary pieces, it reads as it does at once', () => {
  fc.assert(
    fc.property(anyHeader, after, fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 20 }), (h, rest, cuts) => {
      const all = Buffer.concat([h, rest]);
      const atOnce = parseProxyHeader(all);
      let seen = 0;
      let last: ParseResult = { state: 'more' };
      for (const cut of [...cuts, all.length]) {
        seen = Math.min(all.length, seen + cut);
        last = parseProxyHeader(all.subarray(0, seen));
        if (last.state !== 'more') break;
      }
      assert.equal(last, atOnce);
    }),
    runs(1000),
  );
});

const garbage = suite('garbage never throws, never says done beyond its bytes');

garbage('arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<Accept>('any', 'v1', 'v2'), fc.integer({ min: 232, max: 70_000 }), (b, accept, max) => {
      const r = checkParse(b, accept, max);
      return r.state !== 'done' || (r.consumed >= 1 && r.consumed <= b.length);
    }),
    runs(3000),
  );
});

garbage('near-headers: a valid header with bytes changed, cut or added', () => {
  const mutated = fc.tuple(anyHeader, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), after).map(([h, edits, cut, rest]) => {
    const b = Buffer.from(h);
    for (const [at, byte] of edits) b[at % b.length] = byte;
    return Buffer.concat([b.subarray(0, cut % (b.length + 1)), rest]);
  });
  fc.assert(fc.property(mutated, (b) => void fuzz(b)), runs(2000));
});

garbage('v1 text made of the bytes a line holds', () => {
  const line = fc.string({ unit: fc.constantFrom(...'PROXY TCP46UNKNOW0123456789abcdef:.\r\n '), maxLength: 120 });
  fc.assert(fc.property(line, (t) => void fuzz(Buffer.from(`PROXY ${t}`, 'latin1'))), runs(2000));
});

garbage('the fuzz target\'s seeds', () => {
  for (const seed of SEEDS) fuzz(typeof seed === 'string' ? Buffer.from(seed, 'latin1') : Buffer.from(seed));
});

const found = suite('inputs the fuzz target found (regressions)');

found('::ffff:0:0:24:0 is not IPv4-mapped: a pair with it is written as TCP6 and reads back as it was', () => {
  // The target's own check once took any "::ffff:<digit>" for mapped; the codec was right.
  fuzz(Buffer.from('45000000000000ffff000000000024000000000000000000000000ffff000000002465006f7500310000002fed', 'hex'));
  const r = parseProxyHeader(encodeProxyHeader('v1', { address: '::ffff:0:0:24:0', port: 1 }, { address: '::ffff:0.0.0.0', port: 2 }));
  assert.equal(r.state === 'done' && [r.family, r.source?.address, r.destination?.address], ['tcp6', '::ffff:0:0:24:0', '::ffff:0.0.0.0']);
});

round.run();
prefix.run();
garbage.run();
found.run();
