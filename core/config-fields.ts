/**
 * The building blocks of config validation: a collector of problems (each naming the
 * field path and what was expected) and checkers for the common kinds of field.
 */
import { parseDuration } from './duration.ts';

/** Text for a value in an error message: short, quoted when a string. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
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

export function duration(p: Problems, field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) {
    p.add(field, `a duration like "500ms", "2s", "5m", "30d" or milliseconds`, value);
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
    if (!known.includes(key)) p.say(field ? `${field}.${key}` : key, `unknown field (known: ${known.join(', ')})`);
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
