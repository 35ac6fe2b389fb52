/**
 * Durations in config are written as `'500ms'`, `'2s'`, `'5m'`, `'1h'`, `'30d'`, or as
 * a plain number of milliseconds. Compound forms (`'1m30s'`) are accepted too.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;

/** Milliseconds for a duration, or undefined when the text is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = PART.exec(text); m; m = PART.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = PART.lastIndex;
    while (text[consumed] === ' ') consumed++;
    PART.lastIndex = consumed;
  }
  return consumed === text.length ? total : undefined;
}
