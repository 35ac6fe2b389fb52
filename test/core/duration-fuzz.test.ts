/**
 * Properties of core/duration.ts parseDuration, the parser of every duration a config or
 * an admin request carries. fast-check with a fixed seed (FC_SEED overrides it; a failure
 * prints the seed and path to replay) and bounded runs. The plain tests at the end are the
 * bugs these properties found, kept as regressions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { parseDuration } from '../../core/duration.ts';

const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNITS;
const unit = fc.constantFrom<Unit>('ms', 's', 'm', 'h', 'd');
const space = fc.constantFrom('', ' ', '  ', '\t');

/** `ms` printed the way a person writes it: `1d2h3m4s5ms`, largest unit first. */
function print(ms: number, sep = ''): string {
  if (ms === 0) return '0ms';
  const parts: string[] = [];
  let rest = ms;
  for (const u of ['d', 'h', 'm', 's', 'ms'] as const) {
    const n = Math.floor(rest / UNITS[u]);
    if (n > 0) parts.push(`${n}${u}`);
    rest -= n * UNITS[u];
  }
  return parts.join(sep);
}

const never = suite('duration: never throws, answers a finite ms or undefined');

never('any value at all', () => {
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withNullPrototype: true }), (v) => {
      const ms = parseDuration(v);
      return ms === undefined || (Number.isFinite(ms) && ms >= 0);
    }),
    runs(2000),
  );
});

never('text made of the characters a duration uses', () => {
  const chars = fc.constantFrom(...'0123456789.msdh eE+-\t\n');
  fc.assert(
    fc.property(fc.string({ unit: chars, maxLength: 40 }), (text) => {
      const ms = parseDuration(text);
      return ms === undefined || (Number.isFinite(ms) && ms >= 0);
    }),
    runs(3000),
  );
});

never('runs of digits too long for a double', () => {
  const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 300, maxLength: 420 });
  fc.assert(
    fc.property(digits, fc.constantFrom('', 'ms', 's', 'd', '.5s'), (d, u) => {
      const ms = parseDuration(`${d}${u}`);
      return ms === undefined || Number.isFinite(ms);
    }),
    runs(300),
  );
});

never('any text, long ones included', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (text) => {
      const ms = parseDuration(text);
      return ms === undefined || (Number.isFinite(ms) && ms >= 0);
    }),
    runs(1000),
  );
});

const values = suite('duration: the right milliseconds');

values('a number is its own ms; a negative, NaN or infinite one is refused', () => {
  fc.assert(
    fc.property(fc.double(), (n) => {
      const ms = parseDuration(n);
      if (Number.isFinite(n) && n >= 0) return Object.is(ms, n + 0);
      return ms === undefined;
    }),
    runs(2000),
  );
});

values('a whole number as text is that many ms', () => {
  fc.assert(
    fc.property(fc.nat(), space, space, (n, a, b) => parseDuration(`${a}${n}${b}`) === n),
    runs(1000),
  );
});

values('n units is n times the unit', () => {
  fc.assert(
    fc.property(fc.nat({ max: 1_000_000 }), unit, space, (n, u, sp) => parseDuration(`${n}${sp}${u}`) === n * UNITS[u]),
    runs(1000),
  );
});

values('a compound is the sum of its parts, with or without spaces', () => {
  const part = fc.tuple(fc.nat({ max: 100_000 }), unit);
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), space, (parts, sep) => {
      const text = parts.map(([n, u]) => `${n}${u}`).join(sep);
      const sum = parts.reduce((acc, [n, u]) => acc + n * UNITS[u], 0);
      return parseDuration(text) === sum;
    }),
    runs(1000),
  );
});

values('a decimal is exact when it makes whole milliseconds', () => {
  // w.fff of a unit of at least 1000 ms (s, m, h, d) with up to 3 decimals: whole ms.
  const big = fc.constantFrom<Unit>('s', 'm', 'h', 'd');
  fc.assert(
    fc.property(fc.nat({ max: 10_000 }), fc.nat({ max: 999 }), fc.integer({ min: 1, max: 3 }), big, (w, f, digits, u) => {
      const frac = String(f).padStart(3, '0').slice(0, digits);
      const expected = w * UNITS[u] + (Number(frac) * UNITS[u]) / 10 ** digits;
      fc.pre(Number.isInteger(expected));
      return parseDuration(`${w}.${frac}${u}`) === expected;
    }),
    runs(2000),
  );
});

values('a sign, a stray letter or a part without unit is refused', () => {
  fc.assert(
    fc.property(fc.nat({ max: 1000 }), unit, fc.constantFrom('-', '+', 'x', '.', 'e'), fc.boolean(), (n, u, junk, before) => {
      const text = before ? `${junk}${n}${u}` : `${n}${u}${junk}`;
      return parseDuration(text) === undefined;
    }),
    runs(500),
  );
});

const print_ = suite('duration: printing and re-parsing agree');

print_('String(ms) of any accepted number parses back to it', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), (n) => Object.is(parseDuration(String(n)), n + 0)),
    runs(2000),
  );
});

print_('a whole ms printed as 1d2h3m4s5ms parses back to it', () => {
  fc.assert(
    fc.property(fc.nat({ max: 400 * 86_400_000 }), space, (ms, sep) => parseDuration(print(ms, sep)) === ms),
    runs(2000),
  );
});

print_('what parses, printed as ms, parses to the same', () => {
  const text = fc.oneof(
    fc.string({ unit: fc.constantFrom(...'0123456789.msdh '), maxLength: 24 }),
    fc.tuple(fc.nat(), fc.nat(), unit).map(([w, f, u]) => `${w}.${f}${u}`),
  );
  fc.assert(
    fc.property(text, (t) => {
      const ms = parseDuration(t);
      return ms === undefined || parseDuration(String(ms)) === ms;
    }),
    runs(2000),
  );
});

const found = suite('duration: bugs the properties found (regressions)');

found('a run of digits too long for a number is refused, not Infinity', () => {
  assert.is(parseDuration('9'.repeat(400)), undefined);
  assert.is(parseDuration(`${'9'.repeat(400)}d`), undefined);
  assert.is(parseDuration(`1${'0'.repeat(320)}ms`), undefined);
});

found('decimals are exact: 4.35m is 261000 ms, not 260999.99999999997', () => {
  assert.is(parseDuration('4.35m'), 261_000);
  assert.is(parseDuration('0.07s'), 70);
  assert.is(parseDuration('1.1s'), 1100);
  assert.is(parseDuration(`1.${'0'.repeat(400)}s`), 1000);
});

found('JavaScript\'s printed form of a number parses back (1e+21, 5e-324)', () => {
  assert.is(parseDuration(String(1e21)), 1e21);
  assert.is(parseDuration(String(5e-324)), 5e-324);
  assert.is(parseDuration('1e400'), undefined);
});

found('-0 is 0', () => {
  assert.ok(Object.is(parseDuration(-0), 0));
});

found('white space between parts is taken as between a number and its unit', () => {
  assert.is(parseDuration('1m\t30s'), 90_000);
  assert.is(parseDuration('1 m 30 s'), 90_000);
});

never.run();
values.run();
print_.run();
found.run();
