/**
 * Coverage-guided fuzz target (@jazzer.js/core) for durations (core/duration.ts
 * `parseDuration`, which reads every duration of a config and of an admin request). Run as
 * `npm run fuzz -- duration --seconds N`.
 *
 * `fuzz(data)` reads `data` as UTF-8 text (and, when it is 8 bytes, also as a double) and
 * throws only when a promise of the parser is broken, a real bug:
 * - it never throws; it answers undefined or a finite number of milliseconds, at least 0;
 * - a number is its own ms (negative, NaN and infinite ones refused);
 * - what it reads, printed (`String(ms)`), reads back the same; a whole ms printed as
 *   `1d2h3m4s5ms` too;
 * - blanks around the text change nothing; a compound with `0ms` added reads the same.
 * test/core/duration-fuzz.test.ts holds the same properties for fast-check, and the
 * inputs this target found, as regressions.
 */
import { parseDuration } from '../../core/duration.ts';

const UNITS: readonly [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];

/** A whole number of ms as a person writes it: `1d2h3m4s5ms`. */
export function printDuration(ms: number): string {
  let rest = ms;
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('') || '0ms';
}

function fail(what: string, input: unknown, got: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(String(input).slice(0, 200))} gave ${String(got)}`);
}

export function checkDuration(text: string): void {
  const ms = parseDuration(text);
  if (ms === undefined) return;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) fail('not a finite ms of at least 0', text, ms);
  if (!Object.is(parseDuration(String(ms)), ms)) fail('printed as a number, it reads back otherwise', text, parseDuration(String(ms)));
  if (Number.isSafeInteger(ms) && parseDuration(printDuration(ms)) !== ms) fail(`printed as ${printDuration(ms)}, it reads back otherwise`, text, ms);
  if (parseDuration(` ${text}\t`) !== ms) fail('blanks around it change it', text, parseDuration(` ${text}\t`));
  if (/[a-z]\s*$/.test(text) && parseDuration(`${text}0ms`) !== ms) fail('0ms added changes it', text, parseDuration(`${text}0ms`));
}

export function checkNumber(n: number): void {
  const ms = parseDuration(n);
  const expected = Number.isFinite(n) && n >= 0 ? n + 0 : undefined;
  if (!Object.is(ms, expected)) fail('a number is not its own ms', n, ms);
}

export function fuzz(data: Buffer): void {
  checkDuration(data.toString('utf8'));
  if (data.length === 8) checkNumber(data.readDoubleLE(0));
}

/** Durations good and bad, for a starting corpus. */
export const SEEDS: readonly string[] = ['500ms', '2s', '1.5s', '5m', '1h', '30d', '1m30s', '1m 30s', ' 2s ', '250', '0', '1e+21', '5e-324', '4.35m', '2 parsecs', '-1s', '1.2.3s', `${'9'.repeat(40)}d`];
