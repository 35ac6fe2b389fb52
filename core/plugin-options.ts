/**
 * A plugin's options schema: the fields a plugin takes in `plugins: [[name, options]]`,
 * checked before the plugin is made, so that a wrong option is reported with the plugin's
 * name and the field (`plugins[0] (protobalance-plugin-statsd): options.port: expected a
 * port 1-65535, got "x"`) instead of failing somewhere inside the plugin.
 */
import { parseDuration } from './duration.ts';
import { isObject, Problems } from './config-fields.ts';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'duration' | 'port' | 'string[]';

export interface OptionField {
  type: OptionType;
  required?: boolean;
  /** Used when the option is not given (durations as `'10s'` or milliseconds). */
  default?: unknown;
  /** The only values allowed. */
  enum?: readonly (string | number)[];
  /** Bounds of numbers and durations (milliseconds), inclusive. */
  min?: number;
  max?: number;
  description?: string;
}

export type OptionsSchema = Record<string, OptionField>;

/**
 * A config field a plugin declares on listeners, clusters or nodes (`Plugin.fields`): an
 * option field, an object of nested fields, or any value a check of the plugin's accepts.
 */
export type FieldSpec = OptionField | ObjectFieldSpec | AnyFieldSpec;
export type FieldSpecs = Record<string, FieldSpec>;

/** An object whose own fields are specs: `queue: { type: 'object', fields: { size: …, timeout: … } }`. */
export interface ObjectFieldSpec {
  type: 'object';
  fields: FieldSpecs;
  required?: boolean;
  /** Used when the field is not given, resolved as if written (its nested defaults apply). */
  default?: Record<string, unknown>;
  description?: string;
}

/** Any value `check` accepts; `parse` makes the resolved value of it (else it is kept as written). */
export interface AnyFieldSpec {
  type: 'any';
  /**
   * Undefined when `value` is good, else what is wrong. A message that starts with
   * `expected ` gets `, got <the value>` appended, as the core's own messages have.
   */
  check(value: unknown): string | undefined;
  parse?(value: unknown): unknown;
  /** What the field accepts, for messages (`true, "v1" or "v2"`). */
  describe?: string;
  required?: boolean;
  default?: unknown;
  description?: string;
}

/** The fields a plugin adds, by where they sit in the config. */
export interface FieldsSchema {
  /** On each entry of `listeners`. */
  listener?: FieldSpecs;
  /** On each cluster of `clusters`. */
  cluster?: FieldSpecs;
  /** On each node of a cluster's `nodes`, and on nodes the admin API adds. */
  node?: FieldSpecs;
}

interface TypeOf {
  string: string;
  number: number;
  integer: number;
  boolean: boolean;
  duration: number;
  port: number;
  'string[]': string[];
}

type ValueOf<F extends OptionField> = F['enum'] extends readonly (infer E)[] ? E : TypeOf[F['type']];
type Present<F> = F extends { required: true } ? true : F extends { default: unknown } ? true : false;

/** The options a plugin's `create` receives: fields with a default or `required` are always there. */
export type OptionsOf<S extends OptionsSchema> = {
  [K in keyof S as Present<S[K]> extends true ? K : never]: ValueOf<S[K]>;
} & {
  [K in keyof S as Present<S[K]> extends true ? never : K]?: ValueOf<S[K]>;
};

export const EXPECTED: Record<OptionType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  duration: 'a duration like "500ms", "2s", "5m" or milliseconds',
  port: 'a port 1-65535',
  'string[]': 'an array of strings',
};

/** The allowed values in a message: `one of "a", "b"` (options), or `"a" or "b"` (config fields). */
export type EnumText = (values: readonly (string | number)[]) => string;
const oneOf: EnumText = (values) => `one of ${values.map((e) => JSON.stringify(e)).join(', ')}`;

/** The value of one field, or undefined (with a problem added) when it is wrong. */
export function fieldValue(p: Problems, at: string, spec: OptionField, raw: unknown, enumText: EnumText = oneOf): unknown {
  let value: unknown = raw;
  switch (spec.type) {
    case 'string':
      if (typeof raw !== 'string') value = undefined;
      break;
    case 'number':
      if (typeof raw !== 'number' || !Number.isFinite(raw)) value = undefined;
      break;
    case 'integer':
      if (!Number.isSafeInteger(raw)) value = undefined;
      break;
    case 'boolean':
      if (typeof raw !== 'boolean') value = undefined;
      break;
    case 'duration':
      value = parseDuration(raw);
      break;
    case 'port':
      if (!Number.isInteger(raw) || (raw as number) < 1 || (raw as number) > 65535) value = undefined;
      break;
    case 'string[]':
      if (!Array.isArray(raw) || !raw.every((s) => typeof s === 'string')) value = undefined;
      break;
  }
  if (value === undefined) {
    p.add(at, EXPECTED[spec.type], raw);
    return undefined;
  }
  if (spec.enum && !spec.enum.includes(value as string | number)) {
    p.add(at, enumText(spec.enum), raw);
    return undefined;
  }
  if (typeof value === 'number' && ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max))) {
    const range = spec.min !== undefined && spec.max !== undefined ? `from ${spec.min} to ${spec.max}` : spec.min !== undefined ? `at least ${spec.min}` : `at most ${spec.max}`;
    p.add(at, `${EXPECTED[spec.type]} ${range}`, raw);
    return undefined;
  }
  return value;
}

/** Check a schema itself: a plugin author's mistake is reported as such, once, at load. */
export function schemaProblems(schema: unknown): string[] {
  if (!isObject(schema)) return ['options: the schema must be an object of fields'];
  const out: string[] = [];
  for (const [key, spec] of Object.entries(schema)) {
    if (!isObject(spec) || typeof spec.type !== 'string' || !(spec.type in EXPECTED)) {
      out.push(`options schema field "${key}": "type" must be one of ${Object.keys(EXPECTED).join(', ')}`);
    }
  }
  return out;
}

/**
 * The options checked against `schema`, defaults filled in, durations in milliseconds;
 * every problem at once, each under `options.<field>`.
 */
export function resolveOptions(schema: OptionsSchema, raw: unknown): { options: Record<string, unknown>; problems: string[] } {
  const p = new Problems();
  const given = raw === undefined ? {} : raw;
  if (!isObject(given)) {
    p.add('options', 'an object', raw);
    return { options: {}, problems: p.list };
  }
  const options: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!(key in schema)) p.say(`options.${key}`, `unknown option (known: ${Object.keys(schema).join(', ') || 'none'})`);
  }
  for (const [key, spec] of Object.entries(schema)) {
    const at = `options.${key}`;
    if (given[key] !== undefined) {
      const value = fieldValue(p, at, spec, given[key]);
      if (value !== undefined) options[key] = value;
    } else if (spec.default !== undefined) {
      options[key] = fieldValue(p, `${at} (its default)`, spec, spec.default);
    } else if (spec.required) {
      p.say(at, `required (${EXPECTED[spec.type]})`);
    }
  }
  return { options, problems: p.list };
}
