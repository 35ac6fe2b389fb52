/**
 * The control commands of the CLI (`status`, `node`, `route`, `reload`): they talk to a running
 * balancer's admin API. The address comes from `--url`, else PB_ADMIN_HOST / PB_ADMIN_PORT,
 * else the config's `admin` block (core/admin/address.ts, as `start` finds it); the token
 * from `--token`, else the config, PB_ADMIN_TOKEN or the token file in its state directory.
 * An answer without the `x-protobalance` header is refused: that is some other server on
 * the port, and a command must not act on it. Output is a table for people, or the API's
 * JSON with `--json`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config-load.ts';
import { ErrorCodes, pbError } from '../errors.ts';
import type { FleetStatus } from '../fleet/sync.ts';
import type { RuntimeChanges } from '../runtime-changes.ts';
import { adminAddress, adminUrl, MARK_HEADER } from './address.ts';
import { TOKEN_FILE } from './token.ts';

export interface ControlOptions {
  config?: string;
  url?: string;
  token?: string;
  json?: boolean;
}

interface Target {
  base: string;
  token: string;
}

async function target(o: ControlOptions): Promise<Target> {
  if (o.url && o.token) return { base: o.url.replace(/\/$/, ''), token: o.token };
  const config = await loadConfig(o.config);
  const address = o.url ? undefined : adminAddress(config);
  if (!o.url && !address) {
    throw pbError(ErrorCodes.NOT_RUNNING, `${path.basename(config.source ?? 'config')}: admin: false: the balancer serves no admin API (give --url to reach one)`);
  }
  const base = (o.url ?? adminUrl(address!)).replace(/\/$/, '');
  let token = o.token ?? config.admin.token ?? process.env.PB_ADMIN_TOKEN;
  if (!token) {
    const file = path.join(config.stateDir, TOKEN_FILE);
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      throw pbError(ErrorCodes.CONFIG_INVALID, `no admin token: none in the config, and ${file} cannot be read (is the balancer started?)`);
    }
  }
  return { base, token };
}

async function call(o: ControlOptions, method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const t = await target(o);
  let res: Response;
  try {
    res = await fetch(`${t.base}${route}`, {
      method,
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw pbError(ErrorCodes.NOT_RUNNING, `cannot reach the admin API at ${t.base}: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (!res.headers.has(MARK_HEADER)) {
    await res.body?.cancel();
    throw pbError(ErrorCodes.NOT_RUNNING, `${t.base} is not a Proto Balance admin API (it answered without the ${MARK_HEADER} header)`);
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw pbError(ErrorCodes.NOT_RUNNING, `admin API: ${res.status}: ${String(answer.error ?? res.statusText)}`);
  return answer;
}

interface NodeRow {
  key: string;
  address: string;
  state: string;
  available: boolean;
  loadFactor: number;
  loadFactorScale?: number;
  activeConnections: number;
  totalConnections: number;
  failures: number;
  fallovers?: number;
  connectionRate: number;
  bytesRate: number;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** The runtime changes in force, one line each, for people (empty when there are none). */
function describeChanges(c: RuntimeChanges | undefined): string {
  if (!c) return '';
  const lines = [
    ...Object.entries(c.routes).map(([l, r]) => `listener ${l} -> ${r.cluster} (the file says ${r.file})`),
    ...Object.entries(c.factors).map(([n, f]) => `node ${n} load factor ${f.factor} (the file says ${f.file})`),
    ...Object.entries(c.added).map(([n, a]) => `node ${n} added (${String(a.node.address)})`),
    ...Object.keys(c.removed).map((n) => `node ${n} removed`),
  ];
  return lines.length === 0 ? '' : `\n\nchanged at run time (kept until the config file changes the same thing):\n${lines.map((l) => `  ${l}`).join('\n')}`;
}

interface AlgorithmRow {
  state: string;
  lastError?: string;
  nextTrial?: string;
  fallbackChoices?: number;
}

function describeAlgorithm(a: AlgorithmRow): string {
  const next = a.nextTrial ? `, tried again at ${a.nextTrial}` : '';
  return `${a.state}${next}; ${a.fallbackChoices ?? 0} choice(s) made by its fallback${a.lastError ? `; last error: ${a.lastError}` : ''}`;
}

interface StoreHealth {
  store?: string;
  url?: string;
  file?: string;
  state?: string;
  pending?: number;
  error?: string;
}

function describeStore(h: StoreHealth): string {
  if (h.store !== 'redis') return `SQLite ${h.file ?? ''}`.trim();
  const waiting = h.pending ? `, ${h.pending} write(s) waiting` : '';
  return `Redis ${h.state ?? '?'} at ${h.url ?? '?'}${waiting}${h.error ? ` (${h.error})` : ''}`;
}

function describeFleet(f: FleetStatus | undefined): string {
  if (!f) return '';
  const link = f.link === 'up' ? `Redis up at ${f.store}` : `Redis ${f.link} at ${f.store}${f.unpublished ? '; a change made here waits to be shared' : ''}`;
  const members = f.members.map((m) => `  ${m.member}${m.self ? ' (this balancer)' : ''}: ${m.host} pid ${m.pid}, version ${m.version}${m.admin ? `, admin ${m.admin}` : ''}`);
  return `\n\nfleet ${f.name}, member ${f.member}, version ${f.version} (${link}):\n${members.length > 0 ? members.join('\n') : '  (no member listed: Redis unreachable)'}`;
}

export async function status(o: ControlOptions): Promise<string> {
  const s = await call(o, 'GET', '/status');
  if (o.json) return JSON.stringify(s, null, 2);
  const clusters = s.clusters as { name: string; balance: string; affinity?: StoreHealth; algorithm?: AlgorithmRow; nodes: NodeRow[] }[];
  const listeners = s.listeners as { listener: string; host: string; port: number; cluster: string; accepted?: number; refused?: number; refusedBy?: Record<string, number> }[];
  const generations = Array.isArray(s.generations) ? ` (each process: ${(s.generations as unknown[]).map(String).join(', ')})` : '';
  const head = `Proto Balance ${String(s.version)}, up ${String(s.uptimeSeconds)} s, generation ${String(s.generation)}${generations}, ${String(s.processes)} process(es), data path ${String(s.dataPath)}`;
  // A range listener is one row per port in the JSON, with the listener's counts on each: one line here.
  const byListener = new Map<string, typeof listeners>();
  for (const l of listeners) byListener.set(l.listener, [...(byListener.get(l.listener) ?? []), l]);
  const ls = [...byListener.values()]
    .map((rows) => {
      const l = rows[0]!;
      const ports = rows.map((r) => r.port).sort((a, b) => a - b);
      const port = ports.length === 1 ? String(ports[0]) : `${ports[0]}-${ports[ports.length - 1]} (${ports.length} ports)`;
      const by = Object.entries(l.refusedBy ?? {}).map(([code, n]) => `${code} ${n}`);
      const refused = `refused ${l.refused ?? 0}${by.length > 0 ? `: ${by.join(', ')}` : ''}`;
      return `  ${l.listener}: ${l.host.includes(':') ? `[${l.host}]` : l.host}:${port} -> ${l.cluster} (accepted ${l.accepted ?? 0}, ${refused})`;
    })
    .join('\n');
  const rows = [['NODE', 'ADDRESS', 'STATE', 'AVAILABLE', 'FACTOR', 'ACTIVE', 'TOTAL', 'FAILURES', 'FALLOVERS', 'CONN/S', 'BYTES/S']];
  for (const c of clusters) {
    for (const n of c.nodes) {
      rows.push([n.key, n.address, n.state, n.available ? 'yes' : 'no', n.loadFactorScale === undefined ? String(n.loadFactor) : `${n.loadFactor} (×${n.loadFactorScale.toFixed(2)})`, String(n.activeConnections), String(n.totalConnections), String(n.failures), String(n.fallovers ?? 0), n.connectionRate.toFixed(1), Math.round(n.bytesRate).toString()]);
    }
  }
  const troubled = clusters.flatMap((c) => (c.algorithm && c.algorithm.state !== 'ok' ? [`  ${c.name} (${c.balance}): ${describeAlgorithm(c.algorithm)}`] : []));
  const algorithms = troubled.length > 0 ? `\n\nalgorithms not answering:\n${troubled.join('\n')}` : '';
  const stores = clusters.flatMap((c) => (c.affinity ? [`  ${c.name}: ${describeStore(c.affinity)}`] : []));
  const affinity = stores.length > 0 ? `\n\naffinity stores:\n${stores.join('\n')}` : '';
  return `${head}\nlisteners:\n${ls}\n\n${table(rows)}${algorithms}${affinity}${describeChanges(s.runtimeChanges as RuntimeChanges | undefined)}${describeFleet(s.fleet as FleetStatus | undefined)}`;
}

function nodePath(node: string): { cluster: string; id: string; path: string } {
  const slash = node.indexOf('/');
  if (slash <= 0 || slash === node.length - 1) throw pbError(ErrorCodes.NODE_UNKNOWN, `node: expected <cluster>/<node>, got "${node}"`);
  const cluster = node.slice(0, slash);
  const id = node.slice(slash + 1);
  return { cluster, id, path: `/nodes/${encodeURIComponent(cluster)}/${encodeURIComponent(id)}` };
}

const STATE_WORDS = ['green', 'yellow', 'red'];

/**
 * `node <cluster>/<node> green|yellow|red`, `… factor N`, `… add <host:port> [factor]`
 * and `… remove`.
 */
export async function node(o: ControlOptions, node: string, action: string, args: string[]): Promise<string> {
  const n = nodePath(node);
  const done = (r: Record<string, unknown>, text: string) => (o.json ? JSON.stringify(r) : text);
  if (STATE_WORDS.includes(action)) {
    const r = await call(o, 'PUT', `${n.path}/state`, { state: action });
    return done(r, `${String(r.node)} is ${String(r.state)}`);
  }
  if (action === 'factor') {
    const factor = Number(args[0]);
    if (args[0] === undefined || !Number.isFinite(factor) || factor <= 0) {
      throw pbError(ErrorCodes.CONFIG_INVALID, `factor: expected a number greater than 0, got ${JSON.stringify(args[0] ?? '')}`);
    }
    const r = await call(o, 'PUT', `${n.path}/factor`, { factor });
    return done(r, `${String(r.node)} has load factor ${String(r.factor)}`);
  }
  if (action === 'add') {
    if (!args[0]) throw pbError(ErrorCodes.CONFIG_INVALID, 'address: expected "host:port" after "add"');
    const body: Record<string, unknown> = { id: n.id, address: args[0] };
    if (args[1] !== undefined) body.loadFactor = Number(args[1]);
    const r = await call(o, 'POST', `/clusters/${encodeURIComponent(n.cluster)}/nodes`, body);
    return done(r, `${String(r.node)} added (generation ${String(r.generation)})`);
  }
  if (action === 'remove') {
    const r = await call(o, 'DELETE', n.path);
    return done(r, `${String(r.node)} removed; its open connections go on (generation ${String(r.generation)})`);
  }
  throw pbError(ErrorCodes.CONFIG_INVALID, `expected green, yellow, red, factor <n>, add <host:port> or remove after the node, got "${action}"`);
}

export async function route(o: ControlOptions, listener: string, cluster: string): Promise<string> {
  const r = await call(o, 'PUT', `/listeners/${encodeURIComponent(listener)}/cluster`, { cluster });
  return o.json ? JSON.stringify(r) : `listener ${String(r.listener)} now sends new clients to cluster ${String(r.cluster)}`;
}

export async function reload(o: ControlOptions): Promise<string> {
  const r = await call(o, 'POST', '/reload');
  return o.json ? JSON.stringify(r) : `reloaded: generation ${String(r.generation)} (${String(r.ms)} ms)`;
}
