/**
 * Config fields that plugins declare (`Plugin.fields`) on listeners, clusters and nodes.
 *
 * Two phases, because plugins load after the config: the core's check (config-validate.ts)
 * resolves the core's fields and hands the rest of each listener, cluster and node here.
 * Given the plugins (a `FieldCatalog`), they are checked at once; else (`'later'`) they
 * ride along on the resolved object, under a symbol that copies (`{ ...node }`) keep, until
 * the generation's build has loaded its plugins and calls `resolvePluginFields`. Nothing
 * serves before that, and a reload that fails it leaves the serving generation alone.
 */
import { describeError, ErrorCodes, pbError } from './errors.ts';
import { fieldPath, isObject, Problems, show, type Obj } from './config-fields.ts';
import { EXPECTED, fieldValue, type FieldSpec, type FieldSpecs, type FieldsSchema } from './plugin-options.ts';
import type { ResolvedConfig } from './types.ts';
import path from 'node:path';

export type FieldLevel = 'listener' | 'cluster' | 'node';
const LEVELS: readonly FieldLevel[] = ['listener', 'cluster', 'node'];
/** Where each level sits in the config, for messages. */
const WHERE: Record<FieldLevel, string> = { listener: 'listeners[]', cluster: 'clusters.<name>', node: 'nodes[]' };

/** The fields the core itself reads, as users write them: no plugin may declare these. */
export const CORE_FIELDS: Record<FieldLevel, readonly string[]> = {
  listener: ['port', 'host', 'cluster', 'name'],
  cluster: ['balance', 'balanceOptions', 'hashSecret', 'affinity', 'fallover', 'connectTimeout', 'healthCheck', 'nodes'],
  node: ['id', 'address', 'loadFactor', 'fallover', 'connectTimeout', 'probe'],
};

/** Keys the core puts on resolved objects beside the written ones: a plugin field there would overwrite them. */
const RESOLVED_ONLY: Record<FieldLevel, readonly string[]> = { listener: ['portFrom', 'portTo'], cluster: ['name'], node: ['host', 'port'] };

/** What can declare fields: a plugin, or a plugin with options (its `fields` beside its schema). */
export interface FieldDeclarer {
  name: string;
  fields?: FieldsSchema | undefined;
}

export interface DeclaredField {
  plugin: string;
  spec: FieldSpec;
}

/** Every plugin field by level and name, each with its one owner. */
export type FieldCatalog = Readonly<Record<FieldLevel, ReadonlyMap<string, DeclaredField>>>;

export const NO_PLUGIN_FIELDS: FieldCatalog = { listener: new Map(), cluster: new Map(), node: new Map() };

/** Either the plugins' fields, or: keep what the core does not know for `resolvePluginFields`. */
export type FieldsMode = FieldCatalog | 'later';

/** A plugin with where it came from (`LoadedPlugin`), for messages. */
interface Owner {
  plugin: FieldDeclarer;
  source?: string | undefined;
}

const label = (o: Owner): string => (o.source && o.source !== o.plugin.name ? `${o.plugin.name} (${o.source})` : o.plugin.name);

/** A plugin the package itself loads (generation.ts gives builtins the source `builtin[i]`): a user cannot leave it out. */
const isBuiltin = (o: Owner): boolean => o.source !== undefined && /^builtin\[\d+\]$/.test(o.source);

/** Two plugins declare one field: which one to change, and how. */
function clash(first: Owner, second: Owner, level: FieldLevel, name: string): string {
  const both = `plugins ${label(first)} and ${label(second)} both declare the ${level} field "${name}" (${WHERE[level]}.${name}); a field has one owner`;
  if (isBuiltin(first) && isBuiltin(second)) return `${both}, and both are built in`;
  const [builtin, other] = isBuiltin(first) ? [first, second] : isBuiltin(second) ? [second, first] : [undefined, undefined];
  if (builtin && other) {
    return `${both}: ${builtin.plugin.name} is built in and cannot be left out, so rename the field "${name}" of plugin ${label(other)}`;
  }
  return `${both}, so load only one of them`;
}

/**
 * The catalogue of `plugins`' fields. A field declared by two plugins, or named like a
 * core field, is refused with both owners named: which one the config meant is unknowable.
 */
export function fieldCatalog(plugins: readonly (Owner | FieldDeclarer)[]): FieldCatalog {
  const out = { listener: new Map<string, DeclaredField>(), cluster: new Map<string, DeclaredField>(), node: new Map<string, DeclaredField>() };
  const owners = new Map<string, Owner>();
  for (const entry of plugins) {
    const owner: Owner = 'plugin' in entry ? entry : { plugin: entry };
    for (const level of LEVELS) {
      for (const [name, spec] of Object.entries(owner.plugin.fields?.[level] ?? {})) {
        if (CORE_FIELDS[level].includes(name) || RESOLVED_ONLY[level].includes(name)) {
          throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${label(owner)} declares the ${level} field "${name}", which is a field of the core (${WHERE[level]}.${name}); a plugin's field needs a name of its own`);
        }
        const first = owners.get(`${level}.${name}`);
        if (first) {
          throw pbError(ErrorCodes.PLUGIN_INVALID, clash(first, owner, level, name));
        }
        owners.set(`${level}.${name}`, owner);
        out[level].set(name, { plugin: owner.plugin.name, spec });
      }
    }
  }
  return out;
}

const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A plugin author's mistakes in `fields`, reported at load like those of an options schema. */
export function fieldsSchemaProblems(fields: unknown): string[] {
  if (fields === undefined) return [];
  if (!isObject(fields)) return ['fields: expected an object { listener, cluster, node } of field specs'];
  const out: string[] = [];
  for (const [level, specs] of Object.entries(fields)) {
    if (!(LEVELS as readonly string[]).includes(level)) out.push(`fields.${level}: unknown place (known: ${LEVELS.join(', ')})`);
    else if (specs !== undefined) specsProblems(out, `fields.${level}`, specs);
  }
  return out;
}

const TYPES = [...Object.keys(EXPECTED), 'object', 'any'];

function specsProblems(out: string[], at: string, specs: unknown): void {
  if (!isObject(specs)) {
    out.push(`${at}: expected an object of field specs`);
    return;
  }
  for (const [name, spec] of Object.entries(specs)) {
    const f = `${at}.${name}`;
    if (!FIELD_NAME.test(name)) out.push(`${at}: field name ${show(name)} must be letters, digits and "_", the first a letter`);
    else if (!isObject(spec) || typeof spec.type !== 'string' || !TYPES.includes(spec.type)) out.push(`${f}: "type" must be one of ${TYPES.join(', ')}`);
    else if (spec.type === 'object') {
      const before = out.length;
      specsProblems(out, `${f}.fields`, spec.fields);
      // Its nested specs must be valid before a default can be checked against them.
      if (out.length === before) defaultProblems(out, f, spec as unknown as FieldSpec);
    } else if (spec.type === 'any' && typeof spec.check !== 'function') out.push(`${f}: a field of type "any" needs check(value) => message | undefined`);
    else if (spec.type === 'any' && spec.parse !== undefined && typeof spec.parse !== 'function') out.push(`${f}: "parse" must be a function`);
    else defaultProblems(out, f, spec as unknown as FieldSpec);
  }
}

/**
 * A field's `default` checked against its own spec, as a written value would be: a bad
 * one is the plugin's mistake, found at load rather than blamed on every config (and on
 * each node) that leaves the field out.
 */
function defaultProblems(out: string[], f: string, spec: FieldSpec): void {
  if (spec.default === undefined) return;
  const p = new Problems();
  specValue(p, `${f}.default`, spec, spec.default);
  out.push(...p.list);
}

/** `"a" or "b"`, `"a", "b" or "c"`: how a config field's allowed values read. */
const orList = (values: readonly (string | number)[]): string => {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length <= 1 ? (quoted[0] ?? 'nothing') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
};

function expectedOf(spec: FieldSpec): string {
  if (spec.type === 'any') return spec.describe ?? 'a value';
  if (spec.type === 'object') return `an object { ${Object.keys(spec.fields).join(', ')} }`;
  return spec.enum ? orList(spec.enum) : EXPECTED[spec.type];
}

/** The value of one field as the spec makes it, or undefined with a problem added. */
function specValue(p: Problems, at: string, spec: FieldSpec, raw: unknown): unknown {
  if (spec.type === 'object') {
    if (!isObject(raw)) {
      p.add(at, expectedOf(spec), raw);
      return undefined;
    }
    return specsValue(p, at, spec.fields, raw);
  }
  if (spec.type !== 'any') return fieldValue(p, at, spec, raw, orList);
  try {
    const message = spec.check(raw);
    if (message !== undefined) {
      // "[2]: why" names an entry of a list field: it belongs in the path (`allow[2]: why`).
      const entry = /^\[(\d+)\]: ([^]*)$/.exec(message);
      if (entry) p.say(`${at}[${entry[1]}]`, entry[2]!);
      else p.say(at, message.startsWith('expected ') ? `${message}, got ${show(raw)}` : message);
      return undefined;
    }
    return spec.parse ? spec.parse(raw) : raw;
  } catch (err) {
    p.say(at, `the plugin's check threw: ${describeError(err).slice(0, 300)}`);
    return undefined;
  }
}

/** `given` against `specs`: unknown keys, defaults, required ones; absent ones stay absent. */
function specsValue(p: Problems, at: string, specs: FieldSpecs, given: Obj, knownBefore: readonly string[] = []): Obj {
  const out: Obj = {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(specs, key)) p.say(fieldPath(at, key), `unknown field (known: ${[...knownBefore, ...Object.keys(specs)].join(', ')})`);
  }
  for (const [key, spec] of Object.entries(specs)) {
    const f = fieldPath(at, key);
    let value: unknown;
    if (given[key] !== undefined) value = specValue(p, f, spec, given[key]);
    else if (spec.default !== undefined) value = specValue(p, `${f} (its default)`, spec, spec.default);
    else if (spec.required) p.say(f, `required (${expectedOf(spec)})`);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * The plugin fields of one listener, cluster or node: `extra` holds its keys no core
 * field names. Every problem names the plugin whose field it is; a key no plugin declares
 * is an unknown field, listed with the core's fields and the plugins'.
 */
function claimed(p: Problems, at: string, level: FieldLevel, extra: Obj, catalog: FieldCatalog): Obj {
  const fields = catalog[level];
  const known = [...CORE_FIELDS[level], ...fields.keys()];
  for (const key of Object.keys(extra)) {
    if (!fields.has(key)) p.say(fieldPath(at, key), `unknown field (known: ${known.join(', ')})`);
  }
  const out: Obj = {};
  for (const [key, { plugin, spec }] of fields) {
    const own = new Problems();
    const value = specsValue(own, at, { [key]: spec }, { [key]: extra[key] })[key];
    for (const line of own.list) p.list.push(`${line} (a field of plugin ${plugin})`);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The written plugin fields of an object, and where it was written (`''`: a node the admin API added). */
const WRITTEN = Symbol('protobalance.pluginFields.written');
/** The keys `resolvePluginFields` put on an object, taken off before it resolves them again. */
const PUT = Symbol('protobalance.pluginFields.put');
const CATALOG = Symbol('protobalance.pluginFields.catalog');

interface Carrier {
  [WRITTEN]?: { at: string; extra: Obj };
  [PUT]?: readonly string[];
  [CATALOG]?: FieldCatalog;
}

/**
 * Phase one, for one listener, cluster or node `item` at `at`: what to spread into its
 * resolved object. Its keys no core field names are kept (under a symbol, so that a second
 * phase can resolve them again against other plugins) and, given a catalogue, resolved.
 */
export function pluginFieldsOf(p: Problems, at: string, level: FieldLevel, item: Obj, mode: FieldsMode): Obj {
  // No prototype: a key "__proto__" (JSON makes it an own key) stays a key, reported unknown.
  const extra: Obj = Object.create(null) as Obj;
  for (const [key, value] of Object.entries(item)) if (!CORE_FIELDS[level].includes(key)) extra[key] = value;
  const out: Obj & Carrier = {};
  if (Object.keys(extra).length > 0) out[WRITTEN] = { at, extra };
  if (mode === 'later') return out;
  return put(out, claimed(p, at, level, extra, mode));
}

/**
 * `values` on `target`, their keys noted. An object without plugin fields gets no symbol:
 * deep comparisons that see symbols (node:assert) find it as the core made it.
 */
function put(target: Obj & Carrier, values: Obj): Obj {
  Object.assign(target, values);
  if (Object.keys(values).length > 0) target[PUT] = Object.keys(values);
  else delete target[PUT];
  return target;
}

/** Phase two on one resolved object: its plugin fields put on it, afresh. */
function settle(p: Problems, target: object, at: string, level: FieldLevel, catalog: FieldCatalog): void {
  const t = target as Obj & Carrier;
  for (const key of t[PUT] ?? []) delete t[key];
  const written = t[WRITTEN];
  put(t, claimed(p, written?.at || at, level, written?.extra ?? {}, catalog));
}

/**
 * Phase two: the plugin fields of every listener, cluster and node of `config` checked
 * against `plugins` and put on them (in place: the config is the one a generation is
 * being built from). Throws PB_ERR_CONFIG_INVALID naming the file, the fields and their
 * plugins; PB_ERR_PLUGIN_INVALID when two plugins declare one field.
 */
export function resolvePluginFields(config: ResolvedConfig, plugins: readonly (Owner | FieldDeclarer)[]): FieldCatalog {
  const catalog = fieldCatalog(plugins);
  const p = new Problems();
  config.listeners.forEach((l, i) => settle(p, l, `listeners[${i}]`, 'listener', catalog));
  for (const [name, c] of Object.entries(config.clusters)) {
    const at = fieldPath('clusters', name);
    settle(p, c, at, 'cluster', catalog);
    c.nodes.forEach((n, i) => settle(p, n, `${at}.nodes[${i}]`, 'node', catalog));
  }
  if (p.list.length > 0) {
    const where = config.source ? path.basename(config.source) : 'config';
    const head = p.list.length === 1 ? p.list[0] : `${p.list.length} problems: ${p.list.join('; ')}`;
    throw pbError(ErrorCodes.CONFIG_INVALID, `${where}: ${head}`, { details: p.list });
  }
  (config as Carrier)[CATALOG] = catalog;
  return catalog;
}

/** The catalogue a served config was resolved with (a node the admin API adds is checked against it). */
export function catalogOf(config: ResolvedConfig): FieldCatalog | undefined {
  return (config as Carrier)[CATALOG];
}
