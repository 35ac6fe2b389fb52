/**
 * The built-in plugins, loaded before a config's own. They are plugin objects, checked by
 * the same `loadPlugin` as third-party packages; importing them here (not by file URL)
 * puts them in the prebuilt bundle.
 */
import type { PluginEntry } from '../core/types.ts';
import affinity from './affinity/index.ts';
import balancers from './balancers/index.ts';
import fallover from './fallover/chain.ts';
import activeCheck from './health/active-check.ts';
import nodeStateFilter from './health/node-state-filter.ts';
import accessLog from './logging/access-log.ts';
import loadProbe from './metrics/load-probe.ts';

/**
 * A function, not a constant: the plugins import 'protobalance', which imports the core
 * that imports this file, so their objects exist only once every module has loaded.
 */
export function builtinPlugins(): readonly PluginEntry[] {
  return [nodeStateFilter, fallover, loadProbe, activeCheck, balancers, affinity, accessLog];
}
