/**
 * The building blocks of config validation: a collector of problems (each naming the
 * field path and what was expected) and checkers for the common kinds of field.
 */
import { parseDuration } from './duration.ts';

/** Longest string shown whole in a problem; a longer one is cut, its length given. */
const SHOW_MAX = 80;
/** Longest key shown whole in a field path: the longest name (128), so that names show as they are. */
const KEY_MAX = 128;

/** `text` in double quotes, escaped to one line (JSON leaves U+2028 and U+2029 as they are). */
const quote = (text: string): string => JSON.stringify(text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/** Text for a value in an error message: short whatever the value, quoted when a string. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    return value.length <= SHOW_MAX ? quote(value) : `${quote(value.slice(0, SHOW_MAX))}… (${value.length} characters)`;
  }
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** A key as written in a field path: `web.v2` as it is, any other text quoted (`["a b"]`). */
const PLAIN_KEY = /^[\w-]+(?:\.[\w-]+)*$/;

/**
 * The path of `key` under `field` (`''` at the top): one line of bounded length, whatever
 * the key holds; a long key is cut inside its quotes (`["aaa…"]`).
 */
export function fieldPath(field: string, key: string): string {
  if (key.length > KEY_MAX) return `${field}[${quote(`${key.slice(0, KEY_MAX)}…`)}]`;
  if (!PLAIN_KEY.test(key)) return `${field}[${quote(key)}]`;
  return field ? `${field}.${key}` : key;
}

/** Ids and cluster and listener names (the admin API's bound: 128 characters). */
export const NAME = /^[A-Za-z0-9][\w.-]{0,127}$/;
export const NAME_TEXT = 'a name of 1-128 letters, digits, ".", "_" or "-" (the first a letter or digit)';

/** A name in a message: as it is when valid, else quoted (so it cannot break the line). */
export const nameText = (name: string): string => (NAME.test(name) ? name : show(name));

/** The valid names among `names`, for a message: at most ten, then how many in all. */
export function listed(names: Iterable<string>): string {
  const valid = [...names].filter((n) => NAME.test(n));
  return valid.length <= 10 ? valid.join(', ') : `${valid.slice(0, 10).join(', ')}, … (${valid.length} in all)`;
}

export type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class Problems {
  readonly list: string[] = [];
  add(field: string, expected: string, got: unknown): void {
    this.list.push(`${field}: expected ${expected}, got ${show(got)}`);
  }
  say(field: string, message: string): void {
    this.list.push(`${field}: ${message}`);
  }
}

/**
 * The longest duration a field that ends up in a Node timer takes: 24 days, under the
 * 2^31-1 ms a timer keeps (a longer delay fires at once, after 1 ms). The admin API's bound.
 */
export const TIMER_MAX_MS = 24 * 86_400_000;

/** A duration field in ms; `max` for the fields that end up in a timer (`TIMER_MAX_MS`). */
export function duration(p: Problems, field: string, value: unknown, fallback: number, max = Number.POSITIVE_INFINITY): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) {
    p.add(field, `a duration like "500ms", "2s", "5m", "30d" or milliseconds`, value);
    return fallback;
  }
  if (ms > max) {
    p.add(field, `a duration of at most "${max / 86_400_000}d"`, value);
    return fallback;
  }
  return ms;
}

export function optionalString(p: Problems, field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    p.add(field, 'a non-empty string', value);
    return undefined;
  }
  return value;
}

export function checkKeys(p: Problems, field: string, obj: Obj, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) p.say(fieldPath(field, key), `unknown field (known: ${known.join(', ')})`);
  }
}

/** The first cycle in a "next" graph, as the list of names round it, or undefined. */
export function findCycle(next: ReadonlyMap<string, string | undefined>): string[] | undefined {
  const done = new Set<string>();
  for (const start of next.keys()) {
    const seen: string[] = [];
    for (let at: string | undefined = start; at !== undefined && !done.has(at); at = next.get(at)) {
      const i = seen.indexOf(at);
      if (i >= 0) return [...seen.slice(i), at];
      seen.push(at);
    }
    seen.forEach((s) => done.add(s));
  }
  return undefined;
}
