/**
 * The plugin host: resolves plugin entries (package names, local files, objects),
 * checks their shape and metadata, and applies them to a generation's hooks. Built-in
 * plugins come through the very same `loadPlugin` as third-party packages.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { importFresh } from './import-fresh.ts';
// Only the function used: the whole of semver costs start-up time.
import satisfies from 'semver/functions/satisfies.js';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import { tapOnlyView, type Hooks } from './hooks.ts';
import type { PluginApi } from './plugin-api.ts';
import type { Plugin, PluginEntry } from './types.ts';
import { VERSION } from './version.ts';

/** Where a plugin came from, for error messages. */
export interface LoadedPlugin {
  plugin: Plugin;
  source: string;
}

function isLocal(spec: string): boolean {
  return spec.startsWith('.') || path.isAbsolute(spec) || spec.startsWith('file:');
}

/** A URL to import for `spec`, resolved from `baseDir` (the config's directory). */
export function resolvePluginSpecifier(spec: string, baseDir: string): string {
  if (spec.startsWith('file:')) return spec;
  if (isLocal(spec)) return pathToFileURL(path.resolve(baseDir, spec)).href;
  try {
    return pathToFileURL(createRequire(path.join(baseDir, 'package.json')).resolve(spec)).href;
  } catch {
    return spec; // let import() resolve it (ESM-only packages), or report it missing
  }
}

/** Turn a module's default export (plugin object or factory) into a checked plugin. */
export function toPlugin(exported: unknown, options: unknown, source: string): Plugin {
  const value = typeof exported === 'function' ? (exported as (o: unknown) => unknown)(options) : exported;
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
  const range = p.meta?.protobalance;
  if (range !== undefined && !satisfies(VERSION, range, { includePrerelease: true })) {
    throw pbError(
      ErrorCodes.PLUGIN_INVALID,
      `plugin ${p.name} (${source}) needs protobalance ${range}, but this is ${VERSION}`,
    );
  }
  return p as Plugin;
}

/** Load one entry of `plugins`. */
export async function loadPlugin(entry: PluginEntry, baseDir: string, field: string): Promise<LoadedPlugin> {
  if (typeof entry === 'object' && !Array.isArray(entry)) {
    return { plugin: toPlugin(entry, undefined, field), source: field };
  }
  const [spec, options] = typeof entry === 'string' ? [entry, undefined] : entry;
  const url = resolvePluginSpecifier(spec, baseDir);
  let mod: { default?: unknown };
  try {
    // Local files are imported fresh so that a reload sees their edits; packages are not.
    mod = (isLocal(spec) && !spec.startsWith('file:') ? await importFresh(fileURLToPath(url)) : await import(url)) as {
      default?: unknown;
    };
  } catch (err) {
    throw pbError(ErrorCodes.PLUGIN_LOAD, `${field}: cannot load plugin "${spec}": ${describeError(err)}`, { cause: err });
  }
  return { plugin: toPlugin(mod.default ?? mod, options, `"${spec}"`), source: spec };
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
        throw pbError(
          ErrorCodes.PLUGIN_INVALID,
          `plugin ${plugin.name} (${source}) depends on "${dep}", which is not loaded before it`,
        );
      }
    }
    seen.add(plugin.name);
  }
}

/** Apply every plugin in order, each with its tap-only view and its own API object. */
export async function applyPlugins(
  plugins: readonly LoadedPlugin[],
  hooks: Hooks,
  apiFor: (plugin: Plugin) => PluginApi,
): Promise<void> {
  for (const { plugin, source } of plugins) {
    try {
      await plugin.apply(tapOnlyView(hooks, plugin.enforce), apiFor(plugin));
    } catch (err) {
      if (isProtoBalanceError(err)) throw err;
      throw pbError(ErrorCodes.PLUGIN_LOAD, `plugin ${plugin.name} (${source}) failed to apply: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
}
