/**
 * The admin API: HTTP and JSON on `admin.host:admin.port` (127.0.0.1:9100 by default),
 * served by the primary process. Every answer carries `x-protobalance: <version>` (the CLI
 * refuses a server without it). Every request needs `Authorization: Bearer <token>`
 * (core/admin/token.ts; the scheme in any case); a wrong or missing one gets 401 and changes
 * nothing. Bad input of any kind gets a 4xx naming the path, the body or the field
 * (core/admin/request.ts, within the bounds of core/admin/bounds.ts): 400, 404 for no such
 * endpoint or an unknown node, cluster or listener, 405 with `Allow` for a method the path
 * does not take, 413 for a body over 64 KiB, 414 for a path over 2048 characters, 431 for
 * headers over Node's 16 KiB. 500 is only for our own failures, and is logged with its
 * stack. A change answers once every process of the group has it.
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
import { sumSnapshots } from '../status.ts';
import { VERSION } from '../version.ts';
import type { ReloadOutcome } from '../watch.ts';
import type { FleetStatus } from '../fleet/sync.ts';
import type { ProcessGroup } from '../workers/group.ts';
import { MARK_HEADER } from './address.ts';
import { DASHBOARD_HTML } from './dashboard-page.ts';
import { Refusal } from './bounds.ts';
import { answerClientError, bodyBytes } from './http-io.ts';
import { BODY_ROUTES, readBody, readHead, type AdminRequest } from './request.ts';
import { metricsText } from './metrics.ts';
import { addNode, ChangeError, removeNode, setLoadFactor, setRoute, type ChangeBase } from '../runtime-ops.ts';
import { noChanges, type RuntimeChanges } from '../runtime-changes.ts';

const http = lazyBuiltin<typeof import('node:http')>('node:http');
/** Longest error text in an answer or a log line. */
const MAX_ERROR = 500;

/** Client affinity as the admin API reads and forgets it (the affinity plugin's lookup). */
export interface AffinityLookup {
  /** The node `client` is bound to in `cluster`, from the state directory's store. */
  bound(stateDir: string, cluster: string, client: string): string | undefined;
  /** Forget the binding here and in the group's other processes; false when there was none. */
  forget(stateDir: string, cluster: string, client: string, peers: ProcessGroup['balancer']['peers']): boolean;
  /** Where a cluster's bindings live and whether that store works now (for status). */
  health?(stateDir: string, cluster: string): Record<string, unknown> | undefined;
}

export interface AdminOptions {
  /** Affinity lookups for `/api/affinity/...`; without it those answer 404. */
  affinity?: AffinityLookup;
  group: ProcessGroup;
  /** The fleet this balancer is a member of: its link and members are in the status. */
  fleet?: { status(): Promise<FleetStatus> } | undefined;
  token: string;
  logger: Logger;
  /** Reload the config file (the watcher's reload, so file edits and API share one queue). */
  reload(reason: string): Promise<ReloadOutcome>;
}

/** An answer: status and JSON body (or text, with its content type), and any more headers. */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly contentType?: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

const HTTP_OF: Record<ChangeError['kind'], number> = { invalid: 400, unknown: 404, conflict: 409 };

const cut = (text: string) => (text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR)}…` : text);
const fail = (status: number, error: string, headers?: Record<string, string>) => new Reply(status, { error: cut(error) }, undefined, headers);

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
  'x-frame-options': 'DENY',
};

export class AdminServer {
  private readonly server: Server;
  private readonly started = Date.now();

  constructor(private readonly o: AdminOptions) {
    this.server = http().createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.lastResort(req, res, err));
    });
    // What Node's HTTP parser refuses (a header section over 16 KiB, a bad request line)
    // never reaches `handle`: answer it here, in JSON and with the mark, as everything else.
    this.server.on('clientError', (err: Error & { code?: string }, socket) => {
      const answer = answerClientError(err, socket);
      const from = (socket as { remoteAddress?: string }).remoteAddress;
      if (answer) this.o.logger.warn({ status: answer.status, from, error: answer.error }, 'admin API request');
    });
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

  /**
   * One request: read it (core/admin/request.ts refuses bad input with a 4xx naming the
   * problem), act, answer. Only an error of our own (a process that does not answer, a
   * bug) is a 500, and it is logged with its stack.
   */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader(MARK_HEADER, VERSION);
    let reply: Reply;
    try {
      const { route, params } = readHead({ method: req.method, url: req.url, authorization: req.headers.authorization }, this.o.token);
      const body = BODY_ROUTES.has(route) ? readBody(route, await bodyBytes(req)) : {};
      reply = await this.act({ route, params, body });
    } catch (err) {
      reply = this.refusal(err, req);
    }
    // Operators want a trail of who changed what; reads are too many to log, refusals are not.
    if (req.method !== 'GET' || reply.status >= 400) {
      const level = reply.status >= 500 ? 'error' : reply.status >= 400 ? 'warn' : 'info';
      const error = reply.status >= 400 ? (reply.body as { error?: unknown }).error : undefined;
      const path = req.url && req.url.length > 200 ? `${req.url.slice(0, 200)}…` : req.url;
      this.o.logger[level]({ method: req.method, path, status: reply.status, from: req.socket.remoteAddress, error }, 'admin API request');
    }
    // The rest of a body too large is not read: the connection ends with the answer.
    const close = reply.status === 413 ? { connection: 'close' } : {};
    if (reply.contentType) {
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'no-store', ...reply.headers, ...close });
      res.end(String(reply.body));
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...reply.headers, ...close });
    res.end(`${JSON.stringify(reply.body)}\n`);
  }

  /** A refusal's answer: a Refusal or ChangeError as it says; anything else is ours, a 500. */
  private refusal(err: unknown, req: IncomingMessage): Reply {
    if (err instanceof Refusal) return fail(err.status, err.message, err.headers);
    if (err instanceof ChangeError) return fail(HTTP_OF[err.kind], err.message);
    this.o.logger.error({ method: req.method, err: err instanceof Error ? err.stack : describeError(err) }, 'admin API internal error');
    return fail(500, `internal error: ${describeError(err)}`);
  }

  /** When answering itself failed: log it, and answer 500 if nothing was sent yet. */
  private lastResort(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    this.o.logger.error({ method: req.method, err: err instanceof Error ? err.stack : describeError(err) }, 'admin API internal error');
    if (res.headersSent) return void res.destroy();
    res.writeHead(500, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' });
    res.end(`${JSON.stringify({ error: cut(`internal error: ${describeError(err)}`) })}\n`);
  }

  private async act({ route, params, body }: AdminRequest): Promise<Reply> {
    const { cluster = '', node = '', listener = '', client = '' } = params;
    const key = `${cluster}/${node}`;
    switch (route) {
      case 'page':
        return new Reply(200, DASHBOARD_HTML, 'text/html; charset=utf-8', PAGE_HEADERS);
      case 'metrics':
        return this.metrics();
      case 'status':
        return new Reply(200, await this.status());
      case 'changes':
        return new Reply(200, this.o.group.balancer.runtimeChanges());
      case 'dropChanges':
        return this.change(() => noChanges(), () => ({ changes: noChanges() }));
      case 'reload':
        return this.reload();
      case 'setState':
        return this.setState(cluster, node, body.state as NodeState);
      case 'setFactor':
        return this.change((base) => setLoadFactor(base, key, body.factor), () => ({ node: key, factor: body.factor }));
      case 'removeNode':
        return this.change((base) => removeNode(base, key), () => ({ node: key, removed: true }));
      case 'addNode':
        return this.change((base) => addNode(base, cluster, body), () => ({ node: `${cluster}/${String(body.id)}`, added: true }), 201);
      case 'setRoute':
        return this.change((base) => setRoute(base, listener, body.cluster), () => ({ listener, cluster: body.cluster }));
      case 'affinity':
      case 'forgetAffinity':
        return this.affinity(route === 'affinity' ? 'GET' : 'DELETE', cluster, client);
    }
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
    const byProcess = await g.snapshotByProcess();
    const { nodes, listeners } = sumSnapshots(byProcess);
    const counts = new Map(listeners.map((l) => [l.listener, l]));
    const health = new Map(g.balancer.clusters().map((c) => [c.name, c.chooser.health]));
    return {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      generation: g.generation.id,
      processes: g.serving,
      /** The generation each process serves, the primary first: all equal once a change is done. */
      generations: byProcess.map((p) => p.generation ?? g.generation.id),
      dataPath: g.balancer.dataPath.name,
      listeners: g.balancer.addresses().map((a) => ({
        ...a,
        cluster: g.generation.routes.get(a.listener),
        accepted: counts.get(a.listener)?.accepted ?? 0,
        refused: counts.get(a.listener)?.refused ?? 0,
        refusedBy: counts.get(a.listener)?.refusedBy ?? {},
      })),
      clusters: g.balancer.clusters().map((c) => ({
        name: c.name,
        balance: c.config.balance,
        algorithm: health.get(c.name),
        ...(c.config.affinity.enabled ? { affinity: this.o.affinity?.health?.(g.generation.config.stateDir, c.name) } : {}),
        nodes: nodes.filter((n) => n.cluster === c.name),
      })),
      runtimeChanges: g.balancer.runtimeChanges(),
      ...(this.o.fleet ? { fleet: await this.o.fleet.status() } : {}),
    };
  }

  private async reload(): Promise<Reply> {
    const outcome = await this.o.reload('admin API');
    return outcome.ok ? new Reply(200, outcome) : new Reply(400, { error: outcome.error, generation: outcome.generation });
  }

  private async setState(cluster: string, id: string, state: NodeState): Promise<Reply> {
    const g = this.o.group;
    if (!g.balancer.clusters().some((c) => c.name === cluster)) return fail(404, `no cluster ${cluster}`);
    if (!g.balancer.node(`${cluster}/${id}`)) return fail(404, `no node ${id} in cluster ${cluster}`);
    await g.setNodeState(`${cluster}/${id}`, state);
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
