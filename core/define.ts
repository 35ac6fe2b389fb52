/** Identity helpers: they return what they are given, and give it its type. */
import type { AlgorithmDefinition, Config, Plugin, PluginFactory, PolicyDefinition } from './types.ts';

export function defineConfig(config: Config): Config {
  return config;
}

export function definePlugin<Options>(factory: PluginFactory<Options>): PluginFactory<Options>;
export function definePlugin(plugin: Plugin): Plugin;
export function definePlugin(plugin: Plugin | PluginFactory): Plugin | PluginFactory {
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
