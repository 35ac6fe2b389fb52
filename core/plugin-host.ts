/**
 * The plugin host: resolves plugin entries (package names, local files, objects),
 * checks their shape, options and metadata, and applies them to a generation's hooks.
 * Built-in plugins come through the very same `loadPlugin` as third-party packages.
 *
 * Packages and local files alike are loaded through `importBound`: bundled with their own
 * files, their `import … from 'protobalance'` bound to this running instance (never to a
 * copy under the plugin's folder), and loaded afresh when their files changed, so a
 * reload after a package was upgraded in place runs the new code.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importBound } from './import-fresh.ts';
// Only the function used: the whole of semver costs start-up time.
import satisfies from 'semver/functions/satisfies.js';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import { tapOnlyView, type Hooks, type TapErrorHandler } from './hooks.ts';
import type { PluginApi } from './plugin-api.ts';
import { resolveOptions, schemaProblems, type OptionsSchema } from './plugin-options.ts';
import { findPackage, packageDirs, packageNames } from './plugin-resolve.ts';
import { fieldsSchemaProblems } from './config-plugin-fields.ts';
import type { Plugin, PluginEntry } from './types.ts';
import { VERSION } from './version.ts';

/** A plugin ready to apply, and where it came from, for messages. */
export interface LoadedPlugin {
  plugin: Plugin;
  /** The entry as the config gave it, with the package and version it resolved to. */
  source: string;
  /** For a module: its file, and whether its code differs from the last load of that file. */
  file?: string;
  changed?: boolean;
}

function isLocal(spec: string): boolean {
  return spec.startsWith('.') || path.isAbsolute(spec) || spec.startsWith('file:');
}

interface WithOptions {
  name: string;
  options: OptionsSchema;
  create(options: unknown): unknown;
}

const isWithOptions = (v: unknown): v is WithOptions =>
  typeof v === 'object' && v !== null && typeof (v as WithOptions).create === 'function' && 'options' in v;

/**
 * Turn a module's default export into a checked plugin: a plugin object, a factory of one,
 * or `{ name, options, create }` (options checked against the schema first).
 */
export function toPlugin(exported: unknown, options: unknown, source: string): Plugin {
  let value = exported;
  if (isWithOptions(exported)) {
    const label = typeof exported.name === 'string' ? `${exported.name} (${source})` : source;
    const problems = [...schemaProblems(exported.options)];
    if (problems.length === 0) problems.push(...resolveOptions(exported.options, options).problems);
    if (problems.length > 0) {
      throw pbError(ErrorCodes.PLUGIN_OPTIONS, problems.map((p) => `plugin ${label}: ${p}`).join('\n'));
    }
    const { create, options: _schema, ...rest } = exported;
    value = { ...rest, ...(create(resolveOptions(exported.options, options).options) as object) };
  } else if (typeof exported === 'function') {
    value = (exported as (o: unknown) => unknown)(options);
  }
  const p = value as Partial<Plugin> | undefined;
  if (typeof p !== 'object' || p === null) {
    throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${source}: expected a plugin { name, apply } or a factory returning one`);
  }
  if (typeof p.name !== 'string' || p.name === '') {
    throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${source}: "name" must be a non-empty string`);
  }
  if (typeof p.apply !== 'function') {
    throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${p.name} (${source}): "apply" must be a function`);
  }
  if (p.enforce !== undefined && p.enforce !== 'pre' && p.enforce !== 'post') {
    throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${p.name} (${source}): "enforce" must be "pre" or "post"`);
  }
  const fieldProblems = fieldsSchemaProblems(p.fields);
  if (fieldProblems.length > 0) {
    throw pbError(ErrorCodes.PLUGIN_INVALID, fieldProblems.map((f) => `plugin ${p.name} (${source}): ${f}`).join('\n'));
  }
  const range = p.meta?.protobalance;
  if (range !== undefined && !satisfies(VERSION, range, { includePrerelease: true })) {
    throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${p.name} (${source}) needs protobalance ${range}, but this is ${VERSION}`);
  }
  return p as Plugin;
}

/** The code each module file ran last time it was loaded in this process. */
const lastDigest = new Map<string, string>();

/** The module of a plugin entry: a local file, or the package it names, found from `baseDir`. */
function locate(spec: string, baseDir: string, field: string): { file: string; commonJs: boolean; source: string } {
  if (isLocal(spec)) {
    const file = spec.startsWith('file:') ? fileURLToPath(spec) : path.resolve(baseDir, spec);
    return { file, commonJs: file.endsWith('.cjs'), source: `"${spec}"` };
  }
  const names = packageNames(spec);
  for (const name of names) {
    const found = findPackage(name, baseDir);
    if (found) return { file: found.entry, commonJs: found.commonJs, source: `${found.name}${found.version ? `@${found.version}` : ''}` };
  }
  // The node_modules folders looked in, nearest first.
  const where = packageDirs('', baseDir).map((d) => d.replace(/[\\/]$/, ''));
  throw pbError(
    ErrorCodes.PLUGIN_LOAD,
    `${field}: plugin "${spec}" not found: tried the package${names.length > 1 ? 's' : ''} ${names.join(', ')} ` +
      `in ${where.join(', ')} (from the config's folder ${baseDir}); install it with npm install ${names[0]}`,
  );
}

/** Load one entry of `plugins`. */
export async function loadPlugin(entry: PluginEntry, baseDir: string, field: string): Promise<LoadedPlugin> {
  if (typeof entry === 'object' && !Array.isArray(entry)) {
    return { plugin: toPlugin(entry, undefined, field), source: field };
  }
  const [spec, options] = typeof entry === 'string' ? [entry, undefined] : entry;
  if (typeof spec === 'object') return { plugin: toPlugin(spec, options, field), source: field };
  const { file, commonJs, source } = locate(spec, baseDir, field);
  let loaded: { module: Record<string, unknown>; digest: string };
  try {
    loaded = await importBound(file, { commonJs });
  } catch (err) {
    throw pbError(ErrorCodes.PLUGIN_LOAD, `${field}: cannot load plugin ${source} (${file}): ${describeError(err)}`, { cause: err });
  }
  const before = lastDigest.get(file);
  lastDigest.set(file, loaded.digest);
  const plugin = toPlugin(loaded.module.default ?? loaded.module, options, `${field} ${source}`);
  return { plugin, source, file, changed: before !== undefined && before !== loaded.digest };
}

/** Check names are unique and every declared dependency is loaded earlier. */
export function checkDependencies(plugins: readonly LoadedPlugin[]): void {
  const seen = new Set<string>();
  for (const { plugin, source } of plugins) {
    if (seen.has(plugin.name)) {
      throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin name "${plugin.name}" (${source}) is used twice`);
    }
    for (const dep of plugin.meta?.dependencies ?? []) {
      if (!seen.has(dep)) {
        throw pbError(ErrorCodes.PLUGIN_INVALID, `plugin ${plugin.name} (${source}) depends on "${dep}", which is not loaded before it`);
      }
    }
    seen.add(plugin.name);
  }
}

/**
 * Apply every plugin in order, each with its tap-only view and its own API object. A tap
 * that throws takes its hook's safe path (core/hooks.ts) and is reported to `onTapError`
 * with the plugin's name.
 */
export async function applyPlugins(
  plugins: readonly LoadedPlugin[],
  hooks: Hooks,
  apiFor: (plugin: Plugin) => PluginApi,
  onTapError?: (plugin: Plugin, ...rest: Parameters<TapErrorHandler>) => void,
): Promise<void> {
  for (const { plugin, source } of plugins) {
    const onError: TapErrorHandler | undefined = onTapError && ((hook, err) => onTapError(plugin, hook, err));
    try {
      await plugin.apply(tapOnlyView(hooks, plugin.enforce, onError), apiFor(plugin));
    } catch (err) {
      if (isProtoBalanceError(err)) throw err;
      throw pbError(ErrorCodes.PLUGIN_LOAD, `plugin ${plugin.name} (${source}) failed to apply: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
}
