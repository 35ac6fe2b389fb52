/**
 * Connection limits: per node `maxConnections` (a full node is not dialled, the others
 * take the overflow), a bounded queue per cluster for clients that find every node full
 * (`queue: { size, timeout }`), per listener `maxConnections`, and a per client address
 * rate of new connections (`clientRate`). Every limit is exact across the processes of a
 * group: counts live in shared memory (`api.shared`) and are taken with compare-and-swap.
 * Nothing is tapped for what the config does not use.
 */
import { definePlugin, type BalancerNode, type ConnectionContext, type PluginApi, type PluginHooks, type Refusal } from 'protobalance';
import { fields } from './fields.ts';
import { listenerGates } from './listener-gate.ts';
import { entryName, NAME, openMemory, type Memory, type WatchedNode } from './memory.ts';

export type { ClientRate, QueueConfig } from './fields.ts';

/** What one connection holds, in `ctx.data['connection-limits']`. */
interface Held {
  /** The listener's entry, while its slot is taken. */
  listener?: number;
  /** Node slots taken, by node key (one at a time but for a dial being replaced). */
  nodes: { key: string; entry: number }[];
  /** Nodes refused as full in the current choice. */
  full: BalancerNode[];
  /** While queued: the queue's entry, the place, the deadline (epoch ms). */
  queue?: { entry: number; seq: number; deadline: number };
}

const held = (ctx: ConnectionContext): Held =>
  (ctx.data[NAME] ??= { nodes: [], full: [] }) as Held;

/** A node takes a new client: green, and up or due for a retry. */
const open = (n: BalancerNode) => n.state === 'green' && (n.available || n.retryAt <= Date.now());

export default definePlugin({
  name: NAME,
  meta: { protobalance: '^0.1' },
  fields,
  apply(hooks, api) {
    const nodeMax = new Map<string, number>();
    const queues = new Map<string, { size: number; timeout: number }>();
    for (const [name, cluster] of Object.entries(api.config.clusters)) {
      for (const n of cluster.nodes) if (n.maxConnections !== undefined) nodeMax.set(`${name}/${n.id}`, n.maxConnections);
      if (cluster.queue) queues.set(name, cluster.queue);
    }
    // A queue holds clients that found every node full: without a node limit in its
    // cluster nobody ever waits in it. Said once, by the primary (every process applies).
    if (api.role === 'primary') {
      for (const cluster of queues.keys()) {
        if (![...nodeMax.keys()].some((k) => k.startsWith(`${cluster}/`))) {
          api.logger.warn({ cluster }, 'a queue, but no node of the cluster has maxConnections: nobody will wait in it');
        }
      }
    }
    const anyListener = api.config.listeners.some((l) => l.maxConnections !== undefined || l.clientRate !== undefined);
    // Queues serve node limits only: without any, nothing here has work to do.
    if (nodeMax.size === 0 && !anyListener) return;

    const memory = openMemory(api.shared, api.logger);
    for (const [key, max] of nodeMax) nodeMax.set(key, memory.share(max, 1));
    for (const [name, q] of queues) queues.set(name, { ...q, size: memory.share(q.size, 0) });
    const gates = listenerGates(api.config.listeners, memory, api.shared, api.logger);
    const nodes = nodeMax.size > 0 ? nodeLimits(hooks, api, memory, nodeMax, queues) : undefined;

    if (gates.used) {
      hooks.accept.tap(NAME, (ctx) => {
        const { refusal, took } = gates.admit(ctx.client.listener, ctx.client.address);
        if (took !== undefined) held(ctx).listener = took;
        return refusal;
      });
    }
    hooks.closed.tap(NAME, (ctx) => {
      const h = ctx.data[NAME] as Held | undefined;
      if (!h) return;
      nodes?.leaveQueue(h);
      if (h.listener !== undefined) memory.limits.release(h.listener);
      h.listener = undefined;
      // releaseNode comes before closed for every claim: anything left is given back here
      // rather than held for ever (and said, since it means a missed releaseNode).
      if (h.nodes.length > 0) {
        api.logger.warn({ conn: ctx.id, nodes: h.nodes.map((n) => n.key) }, 'node slots still held at close: given back');
        for (const n of h.nodes.splice(0)) memory.limits.release(n.entry);
      }
    });
  },
});

/** The per node limits and the queues: claimNode, releaseNode, waitForNode. */
function nodeLimits(
  hooks: PluginHooks,
  api: PluginApi,
  memory: Memory,
  nodeMax: ReadonlyMap<string, number>,
  queueConfigs: ReadonlyMap<string, { size: number; timeout: number }>,
) {
  const { limits, waits } = memory;
  const entries = new Map<string, number>();
  for (const key of nodeMax.keys()) {
    const entry = limits.entry(entryName.node(key));
    if (entry < 0) api.logger.warn({ node: key }, 'the limits table is full: this node is not limited');
    else entries.set(key, entry);
  }
  const queues = new Map<string, { entry: number; size: number; timeout: number }>();
  for (const [cluster, q] of queueConfigs) {
    const entry = limits.entry(entryName.queue(cluster));
    if (entry >= 0) queues.set(cluster, { entry, ...q });
  }

  const watched = (node: BalancerNode): WatchedNode => {
    const entry = entries.get(node.key)!;
    const max = nodeMax.get(node.key)!;
    return { key: node.key, free: () => (open(node) ? max - limits.count(entry) : 0) };
  };
  const leaveQueue = (h: Held) => {
    if (!h.queue) return;
    waits.cancel(h.queue.seq);
    limits.release(h.queue.entry);
    h.queue = undefined;
  };

  hooks.claimNode.tap(NAME, (ctx, node) => {
    const entry = entries.get(node.key);
    if (entry === undefined) return undefined;
    const h = held(ctx);
    const max = nodeMax.get(node.key)!;
    // Clients already queued for this cluster go first: a newcomer does not take the slot
    // they wait for, it queues behind them.
    const queue = queues.get(ctx.cluster.name);
    if (queue && !h.queue && limits.count(queue.entry) > 0) {
      h.full.push(node);
      return { code: 'node-limit', message: `clients are queued for cluster ${ctx.cluster.name}` };
    }
    if (!limits.claim(entry, max)) {
      h.full.push(node);
      return { code: 'node-limit', message: `node ${node.key} holds its maxConnections (${max})` };
    }
    h.nodes.push({ key: node.key, entry });
    h.full = [];
    leaveQueue(h);
    return undefined;
  });

  hooks.releaseNode.tap(NAME, (ctx, node) => {
    const h = ctx.data[NAME] as Held | undefined;
    const at = h ? h.nodes.findIndex((n) => n.key === node.key) : -1;
    if (at < 0) return;
    limits.release(h!.nodes.splice(at, 1)[0]!.entry);
    waits.freed(node);
  });

  hooks.waitForNode.tapPromise(NAME, async (ctx): Promise<'retry' | Refusal | undefined> => {
    const h = ctx.data[NAME] as Held | undefined;
    // Only for a client that full nodes turned away; else the usual no-node.
    if (!h || h.full.length === 0) {
      if (h) leaveQueue(h);
      return undefined;
    }
    const full = h.full.filter((n) => entries.has(n.key));
    h.full = [];
    const cluster = ctx.cluster.name;
    const queue = queues.get(cluster);
    if (!queue) return { code: 'node-limit', message: `every node of cluster ${cluster} holds its maxConnections` };
    const first = !h.queue;
    if (!h.queue) {
      if (!limits.claim(queue.entry, queue.size)) {
        return { code: 'queue-full', message: `every node of cluster ${cluster} is full and its queue holds ${queue.size} clients` };
      }
      h.queue = { entry: queue.entry, seq: waits.next(), deadline: Date.now() + queue.timeout };
    }
    const answer = await waits.wait(h.queue.seq, full.map(watched), h.queue.deadline - Date.now(), first);
    if (answer === 'retry') return 'retry';
    leaveQueue(h);
    if (answer === 'timeout') {
      return { code: 'queue-timeout', message: `no node of cluster ${cluster} freed a slot within ${queue.timeout} ms` };
    }
    return undefined; // gone: the client left, the answer is not read
  });

  return { leaveQueue };
}
