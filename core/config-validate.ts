/**
 * Validation of a user's config into a `ResolvedConfig`. Every problem is reported with
 * the field path and what was expected, e.g.
 * `clusters.web.nodes[1].address: expected "host:port", got "10.0.0.2"`.
 * All problems are gathered, not only the first.
 */
import path from 'node:path';
import { parseHostPort, parsePortRange } from './address.ts';
import { parseDuration } from './duration.ts';
import { ErrorCodes, pbError } from './errors.ts';
import type {
  LogLevel,
  PluginEntry,
  ResolvedCluster,
  ResolvedConfig,
  ResolvedHealthCheck,
  ResolvedListener,
  ResolvedNode,
  ResolvedProbe,
} from './types.ts';

export const DEFAULTS = {
  connectTimeout: 2_000,
  retryInterval: 10_000,
  drainTimeout: 10_000,
  idleTimeout: 0,
  rateWindow: 10_000,
  sandboxCpuTimeout: 50,
  sandboxMemoryLimit: 32,
  sandboxMaxFailures: 5,
  probeInterval: 5_000,
  probeTimeout: 2_000,
  probeMetric: 'load',
  healthCheckInterval: 5_000,
  healthCheckTimeout: 2_000,
  healthCheckRise: 2,
  healthCheckFall: 3,
  stateDir: './.protobalance',
  adminHost: '127.0.0.1',
  adminPort: 9100,
  balance: 'round-robin',
  affinityTtl: 30 * 86_400_000,
  affinityMaxEntries: 100_000,
  logLevel: 'info' as LogLevel,
};

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const NAME = /^[A-Za-z0-9][\w.-]*$/;

/** Text for a value in an error message: short, quoted when a string. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Problems {
  readonly list: string[] = [];
  add(field: string, expected: string, got: unknown): void {
    this.list.push(`${field}: expected ${expected}, got ${show(got)}`);
  }
  say(field: string, message: string): void {
    this.list.push(`${field}: ${message}`);
  }
}

function duration(p: Problems, field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) {
    p.add(field, `a duration like "500ms", "2s", "5m", "30d" or milliseconds`, value);
    return fallback;
  }
  return ms;
}

function optionalString(p: Problems, field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    p.add(field, 'a non-empty string', value);
    return undefined;
  }
  return value;
}

function checkKeys(p: Problems, field: string, obj: Obj, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) p.say(field ? `${field}.${key}` : key, `unknown field (known: ${known.join(', ')})`);
  }
}

function listeners(p: Problems, raw: unknown): ResolvedListener[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    p.add('listeners', 'a non-empty array of { port, cluster }', raw);
    return [];
  }
  const out: ResolvedListener[] = [];
  const names = new Set<string>();
  raw.forEach((item, i) => {
    const f = `listeners[${i}]`;
    if (!isObject(item)) return p.add(f, 'an object { port, cluster }', item);
    checkKeys(p, f, item, ['port', 'host', 'cluster', 'name']);
    const range = item.port === 0 ? { from: 0, to: 0 } : parsePortRange(item.port);
    if (!range) p.add(`${f}.port`, 'a port 1-65535 (0 for any free port) or a range "50000-50100"', item.port);
    const host = optionalString(p, `${f}.host`, item.host);
    if (typeof item.cluster !== 'string' || item.cluster === '') p.add(`${f}.cluster`, 'a cluster name', item.cluster);
    const name = optionalString(p, `${f}.name`, item.name) ?? String(item.port);
    if (names.has(name)) p.say(`${f}.name`, `duplicate listener name ${show(name)}; give each listener its own name`);
    names.add(name);
    if (range && typeof item.cluster === 'string') {
      out.push({ name, host, portFrom: range.from, portTo: range.to, cluster: item.cluster });
    }
  });
  return out;
}

function nodes(p: Problems, f: string, raw: unknown, connectTimeout: number, needPort: boolean): ResolvedNode[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    p.add(f, 'a non-empty array of { id, address }', raw);
    return [];
  }
  const out: ResolvedNode[] = [];
  const ids = new Set<string>();
  raw.forEach((item, i) => {
    const nf = `${f}[${i}]`;
    if (!isObject(item)) return p.add(nf, 'an object { id, address }', item);
    checkKeys(p, nf, item, ['id', 'address', 'loadFactor', 'fallover', 'connectTimeout', 'probe']);
    const id = item.id;
    if (typeof id !== 'string' || !NAME.test(id)) {
      p.add(`${nf}.id`, 'a name of letters, digits, ".", "_" or "-"', id);
    } else if (ids.has(id)) {
      p.say(`${nf}.id`, `duplicate node id ${show(id)}`);
    } else ids.add(id);
    const addr = typeof item.address === 'string' ? parseHostPort(item.address) : undefined;
    if (!addr || (needPort && addr.port === undefined)) {
      p.add(`${nf}.address`, '"host:port"', item.address);
    }
    const loadFactor = item.loadFactor ?? 1;
    if (typeof loadFactor !== 'number' || !Number.isFinite(loadFactor) || loadFactor <= 0) {
      p.add(`${nf}.loadFactor`, 'a number greater than 0', item.loadFactor);
    }
    const fallover = optionalString(p, `${nf}.fallover`, item.fallover);
    const timeout = duration(p, `${nf}.connectTimeout`, item.connectTimeout, connectTimeout);
    const probe = item.probe === undefined ? undefined : probeOf(p, `${nf}.probe`, item.probe);
    if (typeof id === 'string' && addr) {
      out.push({
        id,
        host: addr.host,
        port: addr.port,
        loadFactor: typeof loadFactor === 'number' && loadFactor > 0 ? loadFactor : 1,
        fallover,
        connectTimeout: timeout,
        probe,
      });
    }
  });
  out.forEach((node, i) => {
    if (node.fallover === undefined) return;
    if (!ids.has(node.fallover)) {
      p.say(`${f}[${i}].fallover`, `no node ${show(node.fallover)} in this cluster (nodes: ${[...ids].join(', ')})`);
    }
  });
  const cycle = findCycle(new Map(out.map((n) => [n.id, n.fallover])));
  if (cycle) p.say(f, `fall-over nodes form a cycle: ${cycle.join(' -> ')}`);
  return out;
}

function probeOf(p: Problems, f: string, raw: unknown): ResolvedProbe | undefined {
  if (!isObject(raw)) {
    p.add(f, 'an object { url } or { tcp }', raw);
    return undefined;
  }
  checkKeys(p, f, raw, ['url', 'tcp', 'interval', 'timeout', 'metric']);
  if ((raw.url === undefined) === (raw.tcp === undefined)) {
    p.say(f, 'give exactly one of "url" (http://…) or "tcp" ("host:port")');
    return undefined;
  }
  let kind: ResolvedProbe['kind'] = 'http';
  let target = '';
  if (raw.url !== undefined) {
    if (typeof raw.url !== 'string' || !/^http:\/\/[^/\s]+/.test(raw.url)) return void p.add(`${f}.url`, 'an "http://host:port/path" URL', raw.url);
    target = raw.url;
  } else {
    const hp = typeof raw.tcp === 'string' ? parseHostPort(raw.tcp) : undefined;
    if (!hp || hp.port === undefined) return void p.add(`${f}.tcp`, '"host:port"', raw.tcp);
    kind = 'tcp';
    target = raw.tcp as string;
  }
  const interval = duration(p, `${f}.interval`, raw.interval, DEFAULTS.probeInterval);
  const timeout = Math.min(duration(p, `${f}.timeout`, raw.timeout, DEFAULTS.probeTimeout), interval);
  if (interval < 100) p.add(`${f}.interval`, 'at least "100ms"', raw.interval);
  const metric = optionalString(p, `${f}.metric`, raw.metric) ?? DEFAULTS.probeMetric;
  return { kind, target, interval, timeout, metric };
}

function healthCheckOf(p: Problems, f: string, raw: unknown): ResolvedHealthCheck | undefined {
  if (!isObject(raw)) {
    p.add(f, 'an object { interval, timeout, send, expect, rise, fall }', raw);
    return undefined;
  }
  checkKeys(p, f, raw, ['interval', 'timeout', 'send', 'expect', 'rise', 'fall']);
  const interval = duration(p, `${f}.interval`, raw.interval, DEFAULTS.healthCheckInterval);
  if (interval < 100) p.add(`${f}.interval`, 'at least "100ms"', raw.interval);
  const timeout = Math.min(duration(p, `${f}.timeout`, raw.timeout, DEFAULTS.healthCheckTimeout), interval);
  if (timeout < 1 && raw.timeout !== undefined) p.add(`${f}.timeout`, 'at least "1ms"', raw.timeout);
  const count = (key: 'rise' | 'fall', fallback: number): number => {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      p.add(`${f}.${key}`, 'a whole number of at least 1', value);
      return fallback;
    }
    return value;
  };
  return {
    interval,
    timeout,
    send: optionalString(p, `${f}.send`, raw.send),
    expect: optionalString(p, `${f}.expect`, raw.expect),
    rise: count('rise', DEFAULTS.healthCheckRise),
    fall: count('fall', DEFAULTS.healthCheckFall),
  };
}

function sandboxOf(p: Problems, raw: unknown): ResolvedConfig['sandbox'] {
  const out = {
    cpuTimeout: DEFAULTS.sandboxCpuTimeout,
    memoryLimit: DEFAULTS.sandboxMemoryLimit,
    maxFailures: DEFAULTS.sandboxMaxFailures,
  };
  if (raw === undefined) return out;
  if (!isObject(raw)) {
    p.add('sandbox', 'an object { cpuTimeout, memoryLimit, maxFailures }', raw);
    return out;
  }
  checkKeys(p, 'sandbox', raw, ['cpuTimeout', 'memoryLimit', 'maxFailures']);
  out.cpuTimeout = duration(p, 'sandbox.cpuTimeout', raw.cpuTimeout, out.cpuTimeout);
  if (out.cpuTimeout < 1) p.add('sandbox.cpuTimeout', 'at least "1ms"', raw.cpuTimeout);
  if (raw.memoryLimit !== undefined) {
    if (typeof raw.memoryLimit !== 'number' || !(raw.memoryLimit >= 8)) p.add('sandbox.memoryLimit', 'a number of MiB, at least 8', raw.memoryLimit);
    else out.memoryLimit = raw.memoryLimit;
  }
  if (raw.maxFailures !== undefined) {
    if (typeof raw.maxFailures !== 'number' || !Number.isInteger(raw.maxFailures) || raw.maxFailures < 1) {
      p.add('sandbox.maxFailures', 'a whole number of at least 1', raw.maxFailures);
    } else out.maxFailures = raw.maxFailures;
  }
  return out;
}

/** The first cycle in a "next" graph, as the list of names round it, or undefined. */
export function findCycle(next: ReadonlyMap<string, string | undefined>): string[] | undefined {
  const done = new Set<string>();
  for (const start of next.keys()) {
    const seen: string[] = [];
    for (let at: string | undefined = start; at !== undefined && !done.has(at); at = next.get(at)) {
      const i = seen.indexOf(at);
      if (i >= 0) return [...seen.slice(i), at];
      seen.push(at);
    }
    seen.forEach((s) => done.add(s));
  }
  return undefined;
}

function clusters(
  p: Problems,
  raw: unknown,
  connectTimeout: number,
  portFixed: ReadonlySet<string>,
): Record<string, ResolvedCluster> {
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    p.add('clusters', 'an object of named clusters', raw);
    return {};
  }
  const out: Record<string, ResolvedCluster> = {};
  for (const [name, c] of Object.entries(raw)) {
    const f = `clusters.${name}`;
    if (!NAME.test(name)) p.say(f, 'a cluster name must be letters, digits, ".", "_" or "-"');
    if (!isObject(c)) {
      p.add(f, 'an object { balance, nodes }', c);
      continue;
    }
    checkKeys(p, f, c, ['balance', 'balanceOptions', 'hashSecret', 'affinity', 'fallover', 'connectTimeout', 'healthCheck', 'nodes']);
    const balance = optionalString(p, `${f}.balance`, c.balance) ?? DEFAULTS.balance;
    if (c.balanceOptions !== undefined && !isObject(c.balanceOptions)) {
      p.add(`${f}.balanceOptions`, 'an object', c.balanceOptions);
    }
    const hashSecret = optionalString(p, `${f}.hashSecret`, c.hashSecret) ?? (process.env.PB_HASH_SECRET || undefined);
    let affinity = { enabled: false, ttl: DEFAULTS.affinityTtl, maxEntries: DEFAULTS.affinityMaxEntries };
    if (c.affinity !== undefined) {
      if (!isObject(c.affinity)) p.add(`${f}.affinity`, 'an object { enabled, ttl, maxEntries }', c.affinity);
      else {
        checkKeys(p, `${f}.affinity`, c.affinity, ['enabled', 'ttl', 'maxEntries']);
        const { enabled = true, maxEntries = DEFAULTS.affinityMaxEntries } = c.affinity;
        if (typeof enabled !== 'boolean') p.add(`${f}.affinity.enabled`, 'true or false', enabled);
        if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1) {
          p.add(`${f}.affinity.maxEntries`, 'a whole number of at least 1', maxEntries);
        }
        affinity = {
          enabled: enabled === true,
          ttl: duration(p, `${f}.affinity.ttl`, c.affinity.ttl, DEFAULTS.affinityTtl),
          maxEntries: typeof maxEntries === 'number' ? maxEntries : DEFAULTS.affinityMaxEntries,
        };
      }
    }
    const fallover = optionalString(p, `${f}.fallover`, c.fallover);
    if (fallover !== undefined && !(fallover in raw)) {
      p.say(`${f}.fallover`, `no cluster ${show(fallover)} (clusters: ${Object.keys(raw).join(', ')})`);
    }
    const timeout = duration(p, `${f}.connectTimeout`, c.connectTimeout, connectTimeout);
    out[name] = {
      name,
      balance,
      balanceOptions: isObject(c.balanceOptions) ? c.balanceOptions : {},
      hashSecret,
      affinity,
      fallover,
      connectTimeout: timeout,
      healthCheck: c.healthCheck === undefined ? undefined : healthCheckOf(p, `${f}.healthCheck`, c.healthCheck),
      nodes: nodes(p, `${f}.nodes`, c.nodes, timeout, portFixed.has(name)),
    };
  }
  const cycle = findCycle(new Map(Object.values(out).map((c) => [c.name, c.fallover])));
  if (cycle) p.say('clusters', `fall-over clusters form a cycle: ${cycle.join(' -> ')}`);
  return out;
}

/** Clusters reached from a single-port listener, directly or as a fall-over cluster. */
function clustersNeedingPorts(raw: unknown, ls: readonly ResolvedListener[]): Set<string> {
  const out = new Set<string>();
  const rawClusters = isObject(raw) ? raw : {};
  for (const l of ls) {
    if (l.portFrom !== l.portTo) continue;
    for (let name: string | undefined = l.cluster; name !== undefined && !out.has(name); ) {
      out.add(name);
      const c: unknown = rawClusters[name];
      name = isObject(c) && typeof c.fallover === 'string' ? c.fallover : undefined;
    }
  }
  return out;
}

function plugins(p: Problems, raw: unknown): PluginEntry[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    p.add('plugins', 'an array', raw);
    return [];
  }
  raw.forEach((entry, i) => {
    const ok =
      (typeof entry === 'string' && entry !== '') ||
      (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string') ||
      (isObject(entry) && typeof entry.name === 'string' && typeof entry.apply === 'function');
    if (!ok) p.add(`plugins[${i}]`, 'a module name, [name, options], or a plugin { name, apply }', entry);
  });
  return raw as PluginEntry[];
}

/**
 * Check `raw` and resolve defaults. `source` is the config file (relative paths in the
 * config are resolved against its directory). Throws PB_ERR_CONFIG_INVALID listing
 * every problem.
 */
export function validateConfig(raw: unknown, source?: string): ResolvedConfig {
  const p = new Problems();
  const where = source ? path.basename(source) : 'config';
  if (!isObject(raw)) {
    throw pbError(ErrorCodes.CONFIG_INVALID, `${where}: expected an object (export default defineConfig({...})), got ${show(raw)}`);
  }
  checkKeys(p, '', raw, [
    'listeners', 'clusters', 'connectTimeout', 'retryInterval', 'drainTimeout', 'idleTimeout',
    'rateWindow', 'sandbox', 'watch', 'stateDir', 'admin', 'plugins', 'log',
  ]);
  const connectTimeout = duration(p, 'connectTimeout', raw.connectTimeout, DEFAULTS.connectTimeout);
  const ls = listeners(p, raw.listeners);
  const cs = clusters(p, raw.clusters, connectTimeout, clustersNeedingPorts(raw.clusters, ls));
  ls.forEach((l, i) => {
    if (Object.keys(cs).length > 0 && !(l.cluster in cs)) {
      p.say(`listeners[${i}].cluster`, `no cluster ${show(l.cluster)} (clusters: ${Object.keys(cs).join(', ')})`);
    }
  });
  const admin = isObject(raw.admin) ? raw.admin : {};
  if (raw.admin !== undefined && !isObject(raw.admin)) p.add('admin', 'an object { host, port, token }', raw.admin);
  else checkKeys(p, 'admin', admin, ['host', 'port', 'token']);
  if (admin.port !== undefined && (typeof admin.port !== 'number' || !Number.isInteger(admin.port) || admin.port < 0 || admin.port > 65535)) {
    p.add('admin.port', 'a port 0-65535', admin.port);
  }
  if (raw.watch !== undefined && typeof raw.watch !== 'boolean') p.add('watch', 'true or false', raw.watch);
  const log = isObject(raw.log) ? raw.log : {};
  if (raw.log !== undefined && !isObject(raw.log)) p.add('log', 'an object { level }', raw.log);
  if (log.level !== undefined && !LOG_LEVELS.includes(log.level as LogLevel)) {
    p.add('log.level', `one of ${LOG_LEVELS.join(', ')}`, log.level);
  }
  const baseDir = source ? path.dirname(source) : process.cwd();
  const resolved: ResolvedConfig = {
    source,
    baseDir,
    listeners: ls,
    clusters: cs,
    connectTimeout,
    retryInterval: duration(p, 'retryInterval', raw.retryInterval, DEFAULTS.retryInterval),
    drainTimeout: duration(p, 'drainTimeout', raw.drainTimeout, DEFAULTS.drainTimeout),
    idleTimeout: duration(p, 'idleTimeout', raw.idleTimeout, DEFAULTS.idleTimeout),
    rateWindow: duration(p, 'rateWindow', raw.rateWindow, DEFAULTS.rateWindow),
    sandbox: sandboxOf(p, raw.sandbox),
    watch: raw.watch === undefined ? true : raw.watch === true,
    stateDir: path.resolve(baseDir, optionalString(p, 'stateDir', raw.stateDir) ?? DEFAULTS.stateDir),
    admin: {
      host: optionalString(p, 'admin.host', admin.host) ?? DEFAULTS.adminHost,
      port: typeof admin.port === 'number' ? admin.port : DEFAULTS.adminPort,
      token: optionalString(p, 'admin.token', admin.token),
    },
    plugins: plugins(p, raw.plugins),
    log: { level: (log.level as LogLevel | undefined) ?? DEFAULTS.logLevel },
  };
  if (p.list.length > 0) {
    const head = p.list.length === 1 ? p.list[0] : `${p.list.length} problems: ${p.list.join('; ')}`;
    throw pbError(ErrorCodes.CONFIG_INVALID, `${where}: ${head}`, { details: p.list });
  }
  return resolved;
}
