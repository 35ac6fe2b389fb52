/**
 * The built-in plugins, loaded before a config's own through the same loader as
 * third-party packages (each entry is a module specifier).
 */
import type { PluginEntry } from '../core/types.ts';

const here = (file: string) => new URL(file, import.meta.url).href;

export const BUILTIN_PLUGINS: readonly PluginEntry[] = [
  here('./health/node-state-filter.ts'),
  here('./fallover/chain.ts'),
  here('./metrics/load-probe.ts'),
  here('./health/active-check.ts'),
  here('./balancers/index.ts'),
  here('./affinity/index.ts'),
];
