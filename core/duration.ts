/**
 * Durations in config are written as `'500ms'`, `'2s'`, `'5m'`, `'1h'`, `'30d'`, or as
 * a plain number of milliseconds. Compound forms (`'1m30s'`, `'1m 30s'`) are accepted too.
 *
 * Contract (held by test/core/duration-fuzz.test.ts): never throws; the result is a finite
 * number of at least 0, or undefined; `'1.1s'` is exactly 1100 (decimals are scaled as
 * written, not through a binary fraction); a number's printed form (`String(ms)`, which
 * may use an exponent: `1e+21`) parses back to the same number.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** One part: digits, an optional fraction, the unit; white space around it is skipped. */
const PART = /(\d+)(?:\.(\d+))?\s*(ms|s|m|h|d)\s*/gy;
/** A plain number of milliseconds, as written or as JavaScript prints one. */
const PLAIN = /^\d+(\.\d+)?(e[+-]?\d+)?$/i;

/** `whole.fraction` units in ms, exact whenever the digits and the result fit in 2^53. */
function partMs(whole: string, fraction: string, unit: number): number {
  const w = whole.replace(/^0+(?=\d)/, '');
  const f = fraction.replace(/0+$/, '');
  if (w.length + f.length > 15) return Number(`${w}.${f}0`) * unit;
  return (Number(w + f) * unit) / 10 ** f.length;
}

/** Milliseconds for a duration, or undefined when the text is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value + 0 : undefined; // -0 as 0
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (PLAIN.test(text)) {
    const ms = Number(text);
    return Number.isFinite(ms) ? ms : undefined;
  }
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = PART.exec(text); m; m = PART.exec(text)) {
    total += partMs(m[1]!, m[2] ?? '', UNIT_MS[m[3]!]!);
    consumed = PART.lastIndex;
  }
  return consumed === text.length && Number.isFinite(total) ? total : undefined;
}
