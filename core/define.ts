/** Identity helpers: they return what they are given, and give it its type. */
import type { OptionsOf, OptionsSchema } from './plugin-options.ts';
import type { AlgorithmDefinition, Config, Plugin, PluginFactory, PolicyDefinition } from './types.ts';

export function defineConfig(config: Config): Config {
  return config;
}

/**
 * A plugin that declares its options: the host checks the config's options against
 * `options` (naming the plugin and the field when one is wrong), fills in defaults, and
 * hands them to `create`, typed from the schema.
 */
export interface PluginWithOptions<S extends OptionsSchema = OptionsSchema> {
  name: string;
  enforce?: Plugin['enforce'];
  meta?: Plugin['meta'];
  options: S;
  create(options: OptionsOf<S>): Omit<Plugin, 'name'> & { name?: string };
}

export function definePlugin<const S extends OptionsSchema>(plugin: PluginWithOptions<S>): PluginWithOptions<S>;
export function definePlugin<Options>(factory: PluginFactory<Options>): PluginFactory<Options>;
export function definePlugin(plugin: Plugin): Plugin;
export function definePlugin(plugin: Plugin | PluginFactory | PluginWithOptions): Plugin | PluginFactory | PluginWithOptions {
  return plugin;
}

export function definePolicy(policy: PolicyDefinition): PolicyDefinition {
  return policy;
}

export function defineAlgorithm<Options = Record<string, unknown>>(
  algorithm: AlgorithmDefinition<Options>,
): AlgorithmDefinition<Options> {
  return algorithm;
}
