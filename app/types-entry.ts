/**
 * What users' projects type-check against (package.json "types"): the public entry, with
 * the config fields the built-in plugins declare, so that `defineConfig` knows
 * `proxyProtocol`, `maxConnections`, `allow`… and `cluster.config` their resolved types.
 * The core names no plugin: the package is put together here, in app/, as its processes
 * are (builtins.ts). Each plugin keeps its `declare module 'protobalance'` in a fields.ts
 * of its own folder, imported below (test/core/plugin-fields.test.ts checks none is missed).
 */
export * from '../core/index.ts';
import '../plugins/access-control/fields.ts';
import '../plugins/connection-limits/fields.ts';
import '../plugins/proxy-protocol/fields.ts';
import '../plugins/slow-start/fields.ts';
