/**
 * The admin API: HTTP and JSON on `admin.host:admin.port` (127.0.0.1:9100 by default),
 * served by the primary process. Every answer carries `x-protobalance: <version>` (the CLI
 * refuses a server without it). Every request needs `Authorization: Bearer <token>`
 * (core/admin/token.ts); a wrong or missing one gets 401 and changes nothing. Bad input
 * gets 400 naming the field, an unknown node or cluster 404. A change answers once every
 * process of the group has it.
 *
 *   GET    /api/status                          version, uptime, generation, listeners, nodes (summed)
 *   PUT    /api/nodes/<cluster>/<node>/state    { "state": "green" | "yellow" | "red" }
 *   PUT    /api/nodes/<cluster>/<node>/factor   { "factor": 2 }
 *   POST   /api/clusters/<cluster>/nodes        { "id", "address", "loadFactor"?, "fallover"?, ... } add a node
 *   DELETE /api/nodes/<cluster>/<node>          remove a node (its open connections go on)
 *   PUT    /api/listeners/<listener>/cluster    { "cluster": "name" } point a listener at a cluster
 *   GET    /api/changes                         the runtime changes in force (core/runtime-changes.ts)
 *   DELETE /api/changes                         drop them all: serve the config file as it is
 *   POST   /api/reload                          reload the config file
 *   GET    /api/affinity/<cluster>/<client>     the node a client address is bound to
 *   DELETE /api/affinity/<cluster>/<client>     forget that binding
 *   GET    /metrics                             Prometheus text format, summed over the processes
 *   GET    /dashboard (and /)                   the dashboard page (no token: it asks for one)
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '../errors.ts';
import { lazyBuiltin } from '../lazy-builtin.ts';
import type { Logger } from '../logger.ts';
import type { NodeState } from '../types.ts';
import { VERSION } from '../version.ts';
import type { ReloadOutcome } from '../watch.ts';
import type { ProcessGroup } from '../workers/group.ts';
import { MARK_HEADER } from './address.ts';
import { DASHBOARD_HTML } from './dashboard-page.ts';
import { tokenMatches } from './token.ts';
import { metricsText } from './metrics.ts';
import { addNode, ChangeError, removeNode, setLoadFactor, setRoute, type ChangeBase } from '../runtime-ops.ts';
import { noChanges, type RuntimeChanges } from '../runtime-changes.ts';

const http = lazyBuiltin<typeof import('node:http')>('node:http');
const MAX_BODY = 64 * 1024;
const STATES: readonly NodeState[] = ['green', 'yellow', 'red'];

/** Client affinity as the admin API reads and forgets it (the affinity plugin's lookup). */
export interface AffinityLookup {
  /** The node `client` is bound to in `cluster`, from the state directory's store. */
  bound(stateDir: string, cluster: string, client: string): string | undefined;
  /** Forget the binding here and in the group's other processes; false when there was none. */
  forget(stateDir: string, cluster: string, client: string, peers: ProcessGroup['balancer']['peers']): boolean;
}

export interface AdminOptions {
  /** Affinity lookups for `/api/affinity/...`; without it those answer 404. */
  affinity?: AffinityLookup;
  group: ProcessGroup;
  token: string;
  logger: Logger;
  /** Reload the config file (the watcher's reload, so file edits and API share one queue). */
  reload(reason: string): Promise<ReloadOutcome>;
}

/** An answer: status and JSON body (or text, with its content type). */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly contentType?: string,
  ) {}
}

const HTTP_OF: Record<ChangeError['kind'], number> = { invalid: 400, unknown: 404, conflict: 409 };

const fail = (status: number, error: string) => new Reply(status, { error });

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(fail(413, `body: larger than ${MAX_BODY} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(fail(400, 'body: not JSON'));
      }
    });
    req.on('error', reject);
  });
}

export class AdminServer {
  private readonly server: Server;
  private readonly started = Date.now();

  constructor(private readonly o: AdminOptions) {
    this.server = http().createServer((req, res) => void this.handle(req, res));
  }

  /** Listen; resolves with the address, rejects with the system error (EADDRINUSE…). */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.o.logger.error({ err: describeError(err) }, 'admin server error'));
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader(MARK_HEADER, VERSION);
    // The page holds no data and a browser cannot send a bearer token on navigation: it is
    // the one thing served without one. Everything it shows comes from /api with the token.
    const page = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (page === '/' || page === '/dashboard')) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
        'x-frame-options': 'DENY',
      });
      res.end(DASHBOARD_HTML);
      return;
    }
    let reply: Reply;
    try {
      const auth = req.headers.authorization;
      const presented = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      if (!tokenMatches(presented, this.o.token)) reply = fail(401, 'a valid "Authorization: Bearer <token>" header is required');
      else reply = await this.route(req);
    } catch (err) {
      reply = err instanceof Reply ? err : fail(500, describeError(err));
    }
    // Operators want a trail of who changed what; reads are too many to log, refusals are not.
    if (req.method !== 'GET' || reply.status >= 400) {
      const level = reply.status >= 500 ? 'error' : reply.status >= 400 ? 'warn' : 'info';
      const error = reply.status >= 400 ? (reply.body as { error?: unknown }).error : undefined;
      this.o.logger[level]({ method: req.method, path: req.url, status: reply.status, from: req.socket.remoteAddress, error }, 'admin API request');
    }
    if (reply.contentType) {
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store' });
      res.end(String(reply.body));
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(`${JSON.stringify(reply.body)}\n`);
  }

  private async route(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    if (parts.length === 1 && parts[0] === 'metrics' && method === 'GET') return this.metrics();
    if (parts[0] !== 'api') return fail(404, `no such endpoint: ${url.pathname}`);
    const [, what, a, b, c] = parts;
    const n = parts.length;
    if (what === 'status' && n === 2 && method === 'GET') return new Reply(200, await this.status());
    if (what === 'changes' && n === 2 && method === 'GET') return new Reply(200, this.o.group.balancer.runtimeChanges());
    if (what === 'changes' && n === 2 && method === 'DELETE') return this.change(() => noChanges(), () => ({ changes: noChanges() }));
    if (what === 'reload' && n === 2 && method === 'POST') return this.reload();
    if (what === 'nodes' && c === 'state' && n === 5 && method === 'PUT') return this.setState(a!, b!, await readBody(req));
    if (what === 'nodes' && c === 'factor' && n === 5 && method === 'PUT') {
      const body = await readBody(req);
      return this.change((base) => setLoadFactor(base, `${a}/${b}`, (body as { factor?: unknown }).factor), () => ({ node: `${a}/${b}`, factor: (body as { factor: number }).factor }));
    }
    if (what === 'nodes' && n === 4 && method === 'DELETE') {
      return this.change((base) => removeNode(base, `${a}/${b}`), () => ({ node: `${a}/${b}`, removed: true }));
    }
    if (what === 'clusters' && b === 'nodes' && n === 4 && method === 'POST') {
      const body = await readBody(req);
      return this.change((base) => addNode(base, a!, body), () => ({ node: `${a}/${(body as { id: string }).id}`, added: true }), 201);
    }
    if (what === 'listeners' && b === 'cluster' && n === 4 && method === 'PUT') {
      const body = await readBody(req);
      return this.change((base) => setRoute(base, a!, (body as { cluster?: unknown }).cluster), () => ({ listener: a, cluster: (body as { cluster: string }).cluster }));
    }
    if (what === 'affinity' && n === 4 && (method === 'GET' || method === 'DELETE')) return this.affinity(method, a!, b!);
    return fail(404, `no such endpoint: ${method} ${url.pathname}`);
  }

  /** A runtime change in every process; its ChangeError becomes 400, 404 or 409. */
  private async change(make: (base: ChangeBase) => RuntimeChanges, answer: () => Record<string, unknown>, status = 200): Promise<Reply> {
    try {
      await this.o.group.change(make);
    } catch (err) {
      if (err instanceof ChangeError) return fail(HTTP_OF[err.kind], err.message);
      throw err;
    }
    return new Reply(status, { ...answer(), generation: this.o.group.generation.id });
  }

  private async metrics(): Promise<Reply> {
    const g = this.o.group;
    const m = await metricsText({ snapshot: await g.snapshot(), generation: g.generation.id, processes: g.serving, version: VERSION });
    return new Reply(200, m.body, m.contentType);
  }

  private async status(): Promise<unknown> {
    const g = this.o.group;
    const { nodes, listeners } = await g.snapshot();
    const counts = new Map(listeners.map((l) => [l.listener, l]));
    const health = new Map(g.balancer.clusters().map((c) => [c.name, c.chooser.health]));
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      generation: g.generation.id,
      processes: g.serving,
      dataPath: g.balancer.dataPath.name,
      listeners: g.balancer.addresses().map((a) => ({
        ...a,
        cluster: g.generation.routes.get(a.listener),
        accepted: counts.get(a.listener)?.accepted ?? 0,
        refused: counts.get(a.listener)?.refused ?? 0,
      })),
      clusters: g.balancer.clusters().map((c) => ({
        name: c.name,
        balance: c.config.balance,
        algorithm: health.get(c.name),
        nodes: nodes.filter((n) => n.cluster === c.name),
      })),
      runtimeChanges: g.balancer.runtimeChanges(),
    };
  }

  private async reload(): Promise<Reply> {
    const outcome = await this.o.reload('admin API');
    return outcome.ok ? new Reply(200, outcome) : new Reply(400, { error: outcome.error, generation: outcome.generation });
  }

  private async setState(cluster: string, id: string, body: unknown): Promise<Reply> {
    const state = (body as { state?: unknown }).state;
    if (typeof state !== 'string' || !STATES.includes(state as NodeState)) {
      return fail(400, `state: expected one of ${STATES.join(', ')}, got ${JSON.stringify(state)}`);
    }
    const g = this.o.group;
    if (!g.balancer.clusters().some((c) => c.name === cluster)) return fail(404, `no cluster ${cluster}`);
    if (!g.balancer.node(`${cluster}/${id}`)) return fail(404, `no node ${id} in cluster ${cluster}`);
    await g.setNodeState(`${cluster}/${id}`, state as NodeState);
    return new Reply(200, { node: `${cluster}/${id}`, state });
  }

  private affinity(method: string, cluster: string, client: string): Reply {
    const g = this.o.group;
    if (!g.balancer.clusters().some((c) => c.name === cluster)) return fail(404, `no cluster ${cluster}`);
    const stateDir = g.generation.config.stateDir;
    const lookup = this.o.affinity;
    if (!lookup) return fail(404, 'client affinity is not available in this process');
    if (method === 'GET') {
      const node = lookup.bound(stateDir, cluster, client);
      return node === undefined ? fail(404, `client ${client} has no binding in cluster ${cluster}`) : new Reply(200, { cluster, client, node });
    }
    return lookup.forget(stateDir, cluster, client, g.balancer.peers)
      ? new Reply(200, { cluster, client, forgotten: true })
      : fail(404, `client ${client} has no binding in cluster ${cluster}`);
  }
}
