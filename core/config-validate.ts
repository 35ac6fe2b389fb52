/**
 * Validation of a user's config into a `ResolvedConfig`. Every problem is reported with
 * the field path and what was expected, e.g.
 * `clusters.web.nodes[1].address: expected "host:port", got "10.0.0.2:99999"`.
 * All problems are gathered, not only the first.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { formatPortRange, isHost, parseHostPort, parsePortRange } from './address.ts';
import { ErrorCodes, pbError } from './errors.ts';
import type {
  LogLevel,
  PluginEntry,
  ResolvedCluster,
  ResolvedConfig,
  ResolvedListener,
  ResolvedNode,
} from './types.ts';
import { DEFAULTS, LOAD_FACTOR } from './config-defaults.ts';
import { checkKeys, duration, fieldPath, findCycle, isObject, listed, NAME, NAME_TEXT, nameText, optionalString, Problems, show, TIMER_MAX_MS } from './config-fields.ts';
import { adminOf, healthCheckOf, probeOf, sandboxOf } from './config-extras.ts';
import { checkAlgorithmFiles, policyDirsOf } from './config-paths.ts';
import { fieldCatalog, NO_PLUGIN_FIELDS, pluginFieldsOf, type FieldDeclarer, type FieldsMode } from './config-plugin-fields.ts';
import { affinityDefaultsOf, clusterAffinityOf, fleetOf, type AffinityDefaults } from './config-shared-state.ts';

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const HOST_TEXT = 'an IP address or a host name (at most 253 characters, labels of 1-63 letters, digits, "_" or "-")';

function listeners(p: Problems, raw: unknown, mode: FieldsMode): ResolvedListener[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    p.add('listeners', 'a non-empty array of { port, cluster }', raw);
    return [];
  }
  const out: ResolvedListener[] = [];
  const names = new Set<string>();
  raw.forEach((item, i) => {
    const f = `listeners[${i}]`;
    if (!isObject(item)) return p.add(f, 'an object { port, cluster }', item);
    const plugin = pluginFieldsOf(p, f, 'listener', item, mode);
    const range = item.port === 0 ? { from: 0, to: 0 } : parsePortRange(item.port);
    if (!range) p.add(`${f}.port`, 'a port 1-65535 (0 for any free port) or a range "50000-50100"', item.port);
    const host = optionalString(p, `${f}.host`, item.host);
    if (host !== undefined && !isHost(host)) p.add(`${f}.host`, HOST_TEXT, host);
    if (typeof item.cluster !== 'string' || item.cluster === '') p.add(`${f}.cluster`, 'a cluster name', item.cluster);
    const given = optionalString(p, `${f}.name`, item.name);
    if (given !== undefined && !NAME.test(given)) p.add(`${f}.name`, NAME_TEXT, given);
    const name = given ?? (range ? formatPortRange(range) : String(item.port));
    if (names.has(name)) p.say(`${f}.name`, `duplicate listener name ${show(name)}; give each listener its own name`);
    names.add(name);
    if (range && typeof item.cluster === 'string') {
      out.push({ name, host, portFrom: range.from, portTo: range.to, cluster: item.cluster, ...plugin });
    }
  });
  return out;
}

/**
 * One node's fields under `nf` ('' at the top level: the admin API's body). An address
 * given as a host alone means "the port the client dialled", behind any listener.
 */
function oneNode(p: Problems, nf: string, item: unknown, connectTimeout: number, mode: FieldsMode): ResolvedNode | undefined {
  const at = (key: string) => (nf ? `${nf}.${key}` : key);
  if (!isObject(item)) {
    p.add(nf || 'node', 'an object { id, address }', item);
    return undefined;
  }
  const plugin = pluginFieldsOf(p, nf, 'node', item, mode);
  const id = item.id;
  if (typeof id !== 'string' || !NAME.test(id)) p.add(at('id'), NAME_TEXT, id);
  const parsed = typeof item.address === 'string' ? parseHostPort(item.address) : undefined;
  if (!parsed) p.add(at('address'), '"host:port"', item.address);
  else if (!isHost(parsed.host)) p.add(at('address'), `"host:port" whose host is ${HOST_TEXT}`, item.address);
  const addr = parsed && isHost(parsed.host) ? parsed : undefined;
  const loadFactor = item.loadFactor === undefined ? 1 : item.loadFactor; // null is no number
  if (typeof loadFactor !== 'number' || !Number.isFinite(loadFactor) || loadFactor <= 0) {
    p.add(at('loadFactor'), 'a number greater than 0', item.loadFactor);
  } else if (loadFactor < LOAD_FACTOR.min || loadFactor > LOAD_FACTOR.max) {
    p.add(at('loadFactor'), `a number from ${LOAD_FACTOR.min} to ${LOAD_FACTOR.max}`, item.loadFactor);
  }
  const fallover = optionalString(p, at('fallover'), item.fallover);
  const timeout = duration(p, at('connectTimeout'), item.connectTimeout, connectTimeout, TIMER_MAX_MS);
  const probe = item.probe === undefined ? undefined : probeOf(p, at('probe'), item.probe);
  if (typeof id !== 'string' || !NAME.test(id) || !addr) return undefined;
  return {
    id,
    host: addr.host,
    port: addr.port,
    loadFactor: typeof loadFactor === 'number' && loadFactor >= LOAD_FACTOR.min && loadFactor <= LOAD_FACTOR.max ? loadFactor : 1,
    fallover,
    connectTimeout: timeout,
    probe,
    ...plugin,
  };
}

/**
 * A node added at run time (admin API), checked as a config node is; problems name the
 * body's fields. Its fall-over is checked by the caller, who knows the cluster. Its plugin
 * fields are checked against `fields` (the serving plugins': `catalogOf(served)`), or by
 * default left to the build of the generation that serves it.
 */
export function resolveNodeConfig(raw: unknown, connectTimeout: number, fields: FieldsMode = 'later'): ResolvedNode {
  const p = new Problems();
  const node = oneNode(p, '', raw, connectTimeout, fields);
  if (p.list.length > 0 || !node) throw pbError(ErrorCodes.CONFIG_INVALID, p.list.join('; ') || 'node: invalid', { details: p.list });
  return node;
}

function nodes(p: Problems, f: string, raw: unknown, connectTimeout: number, mode: FieldsMode): ResolvedNode[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    p.add(f, 'a non-empty array of { id, address }', raw);
    return [];
  }
  const out: ResolvedNode[] = [];
  const ids = new Set<string>();
  raw.forEach((item, i) => {
    const node = oneNode(p, `${f}[${i}]`, item, connectTimeout, mode);
    const id = isObject(item) ? item.id : undefined;
    if (typeof id === 'string' && ids.has(id)) p.say(`${f}[${i}].id`, `duplicate node id ${show(id)}`);
    else if (typeof id === 'string') ids.add(id);
    if (node) out.push(node);
  });
  out.forEach((node, i) => {
    if (node.fallover === undefined) return;
    if (!ids.has(node.fallover)) {
      p.say(`${f}[${i}].fallover`, `no node ${show(node.fallover)} in this cluster (nodes: ${listed(ids)})`);
    }
  });
  const cycle = findCycle(new Map(out.map((n) => [n.id, n.fallover])));
  if (cycle) p.say(f, `fall-over nodes form a cycle: ${cycle.map(nameText).join(' -> ')}`);
  return out;
}


function clusters(p: Problems, raw: unknown, connectTimeout: number, affinityDefaults: AffinityDefaults, mode: FieldsMode): Record<string, ResolvedCluster> {
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    p.add('clusters', 'an object of named clusters', raw);
    return {};
  }
  const out: Record<string, ResolvedCluster> = {};
  for (const [name, c] of Object.entries(raw)) {
    const f = fieldPath('clusters', name);
    if (!NAME.test(name)) p.say(f, 'a cluster name must be 1-128 letters, digits, ".", "_" or "-" (the first a letter or digit)');
    if (!isObject(c)) {
      p.add(f, 'an object { balance, nodes }', c);
      continue;
    }
    const plugin = pluginFieldsOf(p, f, 'cluster', c, mode);
    const balance = optionalString(p, `${f}.balance`, c.balance) ?? DEFAULTS.balance;
    if (c.balanceOptions !== undefined && !isObject(c.balanceOptions)) {
      p.add(`${f}.balanceOptions`, 'an object', c.balanceOptions);
    }
    const hashSecret = optionalString(p, `${f}.hashSecret`, c.hashSecret) ?? (process.env.PB_HASH_SECRET || undefined);
    const affinity = clusterAffinityOf(p, `${f}.affinity`, c.affinity, affinityDefaults);
    const fallover = optionalString(p, `${f}.fallover`, c.fallover);
    if (fallover !== undefined && !Object.hasOwn(raw, fallover)) {
      p.say(`${f}.fallover`, `no cluster ${show(fallover)} (clusters: ${listed(Object.keys(raw))})`);
    }
    const timeout = duration(p, `${f}.connectTimeout`, c.connectTimeout, connectTimeout, TIMER_MAX_MS);
    out[name] = {
      name,
      balance,
      balanceOptions: isObject(c.balanceOptions) ? c.balanceOptions : {},
      hashSecret,
      affinity,
      fallover,
      connectTimeout: timeout,
      healthCheck: c.healthCheck === undefined ? undefined : healthCheckOf(p, `${f}.healthCheck`, c.healthCheck),
      nodes: nodes(p, `${f}.nodes`, c.nodes, timeout, mode),
      ...plugin,
    };
  }
  const cycle = findCycle(new Map(Object.values(out).map((c) => [c.name, c.fallover])));
  if (cycle) p.say('clusters', `fall-over clusters form a cycle: ${cycle.map(nameText).join(' -> ')}`);
  return out;
}

function plugins(p: Problems, raw: unknown): PluginEntry[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    p.add('plugins', 'an array', raw);
    return [];
  }
  raw.forEach((entry, i) => {
    const isPlugin = (v: unknown) =>
      isObject(v) && typeof v.name === 'string' && (typeof v.apply === 'function' || (typeof v.create === 'function' && isObject(v.options)));
    const ok =
      (typeof entry === 'string' && entry !== '') ||
      (Array.isArray(entry) && entry.length === 2 && (typeof entry[0] === 'string' || isPlugin(entry[0]))) ||
      isPlugin(entry);
    if (!ok) p.add(`plugins[${i}]`, 'a module name, a plugin { name, apply } or { name, options, create }, or either as [it, options]', entry);
  });
  return raw as PluginEntry[];
}

export interface ValidateOptions {
  /**
   * The plugins the config is served with: the fields they declare (`Plugin.fields`) are
   * checked and resolved now, any other is an unknown field. `'later'`: fields the core
   * does not know are kept, and checked when a generation is built with its plugins (how
   * the balancer and the CLI validate, as plugins load after the config). Default: none.
   */
  plugins?: readonly FieldDeclarer[] | 'later';
}

/**
 * Check `raw` and resolve defaults. `source` is the config file (relative paths in the
 * config are resolved against its directory). Throws PB_ERR_CONFIG_INVALID listing
 * every problem.
 */
export function validateConfig(raw: unknown, source?: string, options: ValidateOptions = {}): ResolvedConfig {
  const p = new Problems();
  const mode: FieldsMode = options.plugins === 'later' ? 'later' : options.plugins ? fieldCatalog(options.plugins) : NO_PLUGIN_FIELDS;
  const where = source ? path.basename(source) : 'config';
  if (!isObject(raw)) {
    throw pbError(ErrorCodes.CONFIG_INVALID, `${where}: expected an object (export default defineConfig({...})), got ${show(raw)}`);
  }
  checkKeys(p, '', raw, [
    'listeners', 'clusters', 'connectTimeout', 'retryInterval', 'drainTimeout', 'idleTimeout',
    'rateWindow', 'sandbox', 'watch', 'stateDir', 'admin', 'plugins', 'log', 'workers', 'dataPath', 'policyDirs', 'maxFallovers',
    'affinity', 'fleet',
  ]);
  const connectTimeout = duration(p, 'connectTimeout', raw.connectTimeout, DEFAULTS.connectTimeout, TIMER_MAX_MS);
  const ls = listeners(p, raw.listeners, mode);
  const cs = clusters(p, raw.clusters, connectTimeout, affinityDefaultsOf(p, raw.affinity), mode);
  ls.forEach((l, i) => {
    if (Object.keys(cs).length > 0 && !Object.hasOwn(cs, l.cluster)) {
      p.say(`listeners[${i}].cluster`, `no cluster ${show(l.cluster)} (clusters: ${listed(Object.keys(cs))})`);
    }
  });
  if (raw.watch !== undefined && typeof raw.watch !== 'boolean') p.add('watch', 'true or false', raw.watch);
  const log = isObject(raw.log) ? raw.log : {};
  if (raw.log !== undefined && !isObject(raw.log)) p.add('log', 'an object { level, access }', raw.log);
  else checkKeys(p, 'log', log, ['level', 'access']);
  if (log.access !== undefined && typeof log.access !== 'boolean') p.add('log.access', 'true or false', log.access);
  if (log.level !== undefined && !LOG_LEVELS.includes(log.level as LogLevel)) {
    p.add('log.level', `one of ${LOG_LEVELS.join(', ')}`, log.level);
  }
  const baseDir = source ? path.dirname(source) : process.cwd();
  checkAlgorithmFiles(p, cs, baseDir, policyDirsOf(p, raw.policyDirs, baseDir));
  const resolved: ResolvedConfig = {
    source,
    baseDir,
    listeners: ls,
    clusters: cs,
    connectTimeout,
    retryInterval: duration(p, 'retryInterval', raw.retryInterval, DEFAULTS.retryInterval),
    drainTimeout: duration(p, 'drainTimeout', raw.drainTimeout, DEFAULTS.drainTimeout),
    maxFallovers: maxFalloversOf(p, raw.maxFallovers),
    idleTimeout: duration(p, 'idleTimeout', raw.idleTimeout, DEFAULTS.idleTimeout),
    rateWindow: duration(p, 'rateWindow', raw.rateWindow, DEFAULTS.rateWindow),
    sandbox: sandboxOf(p, raw.sandbox),
    watch: raw.watch === undefined ? true : raw.watch === true,
    stateDir: path.resolve(baseDir, optionalString(p, 'stateDir', raw.stateDir) ?? DEFAULTS.stateDir),
    admin: adminOf(p, raw.admin),
    plugins: plugins(p, raw.plugins),
    log: { level: (log.level as LogLevel | undefined) ?? DEFAULTS.logLevel, access: log.access === true },
    workers: workersOf(p, raw.workers),
    dataPath: dataPathOf(p, raw.dataPath),
    fleet: fleetOf(p, raw.fleet),
  };
  if (p.list.length > 0) {
    const head = p.list.length === 1 ? p.list[0] : `${p.list.length} problems: ${p.list.join('; ')}`;
    throw pbError(ErrorCodes.CONFIG_INVALID, `${where}: ${head}`, { details: p.list });
  }
  return resolved;
}

const MAX_WORKERS = 64;
const MAX_FALLOVERS = 100;

function maxFalloversOf(p: Problems, raw: unknown): number {
  if (raw === undefined) return DEFAULTS.maxFallovers;
  if (!Number.isInteger(raw) || (raw as number) < 0 || (raw as number) > MAX_FALLOVERS) {
    p.add('maxFallovers', `a whole number 0-${MAX_FALLOVERS}`, raw);
    return DEFAULTS.maxFallovers;
  }
  return raw as number;
}

function workersOf(p: Problems, raw: unknown): number {
  if (raw === undefined || raw === 'auto') return Math.max(1, availableParallelism());
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > MAX_WORKERS) {
    p.add('workers', `'auto' or a whole number 1-${MAX_WORKERS}`, raw);
    return 1;
  }
  return raw;
}

function dataPathOf(p: Problems, raw: unknown): ResolvedConfig['dataPath'] {
  if (raw === undefined) return 'auto';
  if (raw === 'auto' || raw === 'fast' || raw === 'net') return raw;
  p.add('dataPath', "'auto', 'fast' or 'net'", raw);
  return 'auto';
}
