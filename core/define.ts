/** Identity helpers: they return what they are given, and give it its type. */
import type { OptionsSchema } from './plugin-options.ts';
import type { AlgorithmDefinition, Config, Plugin, PluginFactory, PluginWithOptions, PolicyDefinition } from './types.ts';

export type { PluginWithOptions };

export function defineConfig(config: Config): Config {
  return config;
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
