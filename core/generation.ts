/**
 * A generation: everything built from one config (plugins applied to fresh hooks,
 * algorithm instances, clusters). Built whole beside the serving one and swapped in one
 * step; connections keep the generation they arrived in.
 */
import { carriedOver, releaseInstances, type AlgorithmInstance } from './algorithm-instances.ts';
import { AlgorithmRegistry } from './algorithms.ts';
import type { AlgorithmRunner } from './algorithm-runner.ts';
import { Cluster, findNode, type NodeRegistry } from './cluster.ts';
import { describeError, inConfigFile } from './errors.ts';
import { createHooks, type Hooks } from './hooks.ts';
import type { Peers } from './workers/peers.ts';
import type { SharedMemory } from './shared-counters.ts';
import type { Logger } from './logger.ts';
import type { BalancerView, PluginApi } from './plugin-api.ts';
import { applyPlugins, checkDependencies, loadPlugin, type LoadedPlugin } from './plugin-host.ts';
import { resolvePluginFields } from './config-plugin-fields.ts';
import type { PluginEntry, ResolvedConfig } from './types.ts';
import { VERSION } from './version.ts';

export interface Generation {
  readonly id: number;
  readonly config: ResolvedConfig;
  readonly hooks: Hooks;
  readonly clusters: ReadonlyMap<string, Cluster>;
  /** Listener name → cluster name. */
  readonly routes: ReadonlyMap<string, string>;
  readonly plugins: readonly LoadedPlugin[];
  readonly runner: AlgorithmRunner;
  /** Each cluster's algorithm instance, by cluster name (possibly shared with the generation before). */
  readonly instances: ReadonlyMap<string, AlgorithmInstance>;
}

export interface BuildOptions {
  id: number;
  config: ResolvedConfig;
  builtins: readonly PluginEntry[];
  nodes: NodeRegistry;
  logger: Logger;
  runner: AlgorithmRunner;
  peers: Peers;
  role: 'primary' | 'worker';
  /** Memory shared by the group's processes, handed to plugins as `api.shared`. */
  shared: SharedMemory;
  /** The serving generation's instances, to carry over where nothing changed. */
  previous?: ReadonlyMap<string, AlgorithmInstance> | undefined;
}

/**
 * Logs a plugin's throwing tap with the plugin's name and the hook, at most once a second
 * per plugin and hook (a tap that throws on every connection must not flood the log),
 * with the count of those not logged.
 */
function tapErrorLogger(logger: Logger) {
  const last = new Map<string, { at: number; skipped: number }>();
  return (plugin: { name: string }, hook: string, err: unknown) => {
    const key = `${plugin.name}\n${hook}`;
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < 1_000) {
      seen.skipped++;
      return;
    }
    last.set(key, { at: now, skipped: 0 });
    logger.error(
      { plugin: plugin.name, hook, err: describeError(err).slice(0, 2_000), notLogged: seen?.skipped ?? 0 },
      'a plugin hook threw; the hook took its safe path',
    );
  };
}

/** Build a generation; its errors (plugins, algorithms, policies) name the config file. */
export async function buildGeneration(o: BuildOptions): Promise<Generation> {
  try {
    return await build(o);
  } catch (err) {
    throw inConfigFile(err, o.config.source);
  }
}

async function build(o: BuildOptions): Promise<Generation> {
  const { config, logger } = o;
  const loaded: LoadedPlugin[] = [];
  for (const [i, entry] of o.builtins.entries()) loaded.push(await loadPlugin(entry, config.baseDir, `builtin[${i}]`));
  for (const [i, entry] of config.plugins.entries()) loaded.push(await loadPlugin(entry, config.baseDir, `plugins[${i}]`));
  checkDependencies(loaded);
  // Before any plugin applies: each reads its fields resolved from `api.config`.
  resolvePluginFields(config, loaded);

  const hooks = createHooks();
  const algorithms = new AlgorithmRegistry();
  const clusters = new Map<string, Cluster>();
  const viewFor = (plugin: string): BalancerView => ({
    clusters: () => [...clusters.values()],
    cluster: (name) => clusters.get(name),
    node: (key) => findNode(clusters, key),
    // Each plugin scales in its own name: one plugin's setting never undoes another's.
    setLoadFactorScale: (node, scale) => node.scaleLoadFactor(scale, plugin),
  });
  const apiFor = (plugin: { name: string }): PluginApi => ({
    version: VERSION,
    config,
    logger: logger.child({ plugin: plugin.name }),
    balancer: viewFor(plugin.name),
    registerAlgorithm: (name, module, options) => algorithms.register(name, String(module), plugin.name, options),
    peers: o.peers,
    role: o.role,
    shared: o.shared,
  });
  await applyPlugins(loaded, hooks, apiFor, tapErrorLogger(logger));
  for (const p of loaded) {
    if (p.changed) logger.info({ plugin: p.plugin.name, source: p.source, file: p.file }, 'plugin re-loaded: its files changed on disk');
  }

  // Every algorithm is instantiated before any live node is touched, so that a config
  // whose algorithms fail leaves the serving nodes exactly as they were.
  const instances = new Map<string, AlgorithmInstance>();
  const context = { baseDir: config.baseDir, maxFailures: config.sandbox.maxFailures };
  try {
    const limits = `\n${config.sandbox.maxFailures}`;
    for (const c of Object.values(config.clusters)) {
      // Identified only where an instance could carry over: a start makes every one anew.
      const previous = o.previous?.get(c.name);
      const made = previous ? await algorithms.identify(c, o.runner, config.baseDir) : undefined;
      const kept = carriedOver(previous, made === undefined ? undefined : made + limits, o.runner);
      if (kept) instances.set(c.name, kept);
      else {
        const fresh = await algorithms.instantiate(c, o.runner, logger, context);
        instances.set(c.name, { ...fresh, key: fresh.key === undefined ? undefined : fresh.key + limits, runner: o.runner, holders: 1 });
      }
    }
  } catch (err) {
    releaseInstances(instances.values());
    throw err;
  }
  for (const c of Object.values(config.clusters)) {
    const nodes = c.nodes.map((n) => o.nodes.take(c.name, n));
    clusters.set(c.name, new Cluster(c, nodes, instances.get(c.name)!.chooser));
  }
  try {
    await hooks.init.promise(config);
  } catch (err) {
    releaseInstances(instances.values());
    throw err;
  }
  return {
    id: o.id,
    config,
    hooks,
    clusters,
    routes: new Map(config.listeners.map((l) => [l.name, l.cluster])),
    plugins: loaded,
    runner: o.runner,
    instances,
  };
}
