/**
 * `/metrics` in the Prometheus text format (prom-client), from a snapshot summed over
 * every process of the group. A fresh registry per scrape: a node or listener that is
 * gone is gone from the next scrape, and counters are the processes' own totals.
 */
import type { Snapshot } from '../status.ts';
import type { NodeState } from '../types.ts';

const STATES: readonly NodeState[] = ['green', 'yellow', 'red'];

export interface MetricsInput {
  snapshot: Snapshot;
  generation: number;
  processes: number;
  version: string;
}

export async function metricsText(m: MetricsInput): Promise<{ contentType: string; body: string }> {
  // Loaded on the first scrape: a balancer nobody scrapes never pays for it.
  // CommonJS: `default` is its module.exports under Node and in the esbuild bundle alike
  // (the bundle has no named exports for it).
  const { Registry, Gauge, Counter } = (await import('prom-client')).default;
  const registry = new Registry();
  const registers = [registry];
  const node = ['cluster', 'node'] as const;
  const gauge = (name: string, help: string, labelNames: readonly string[] = node) => new Gauge({ name, help, labelNames, registers });
  const counter = (name: string, help: string, labelNames: readonly string[] = node) => new Counter({ name, help, labelNames, registers });

  new Gauge({ name: 'protobalance_info', help: 'Version of the running balancer', labelNames: ['version'], registers }).set({ version: m.version }, 1);
  gauge('protobalance_config_generation', 'Generation of the config being served (counts successful reloads and changes)', []).set(m.generation);
  gauge('protobalance_processes', 'Processes serving (the primary and its workers)', []).set(m.processes);

  const active = gauge('protobalance_node_active_connections', 'Open connections to the node');
  const total = counter('protobalance_node_connections_total', 'Connections forwarded to the node');
  const bytesIn = counter('protobalance_node_bytes_in_total', 'Bytes from clients forwarded to the node (connections that ended)');
  const bytesOut = counter('protobalance_node_bytes_out_total', 'Bytes from the node forwarded to clients (connections that ended)');
  const failures = counter('protobalance_node_failures_total', 'Connects to the node that failed (refused, reset before data, timed out)');
  const fallovers = counter('protobalance_node_fallovers_total', 'Connections that failed on the node and went on to another node');
  const state = gauge('protobalance_node_state', 'Node state: 1 for the current one of green, yellow, red', [...node, 'state']);
  const available = gauge('protobalance_node_available', '1 when the node is taking connections (not marked unavailable)');
  const factor = gauge('protobalance_node_load_factor', 'Load factor (weight) of the node, as configured');
  const scale = gauge('protobalance_node_load_factor_scale', 'Share of its load factor the node is weighed at now (below 1 while slow start ramps it)');
  const connRate = gauge('protobalance_node_connection_rate', 'New connections per second, exponentially weighted');
  const byteRate = gauge('protobalance_node_byte_rate', 'Bytes per second both ways, exponentially weighted');
  for (const n of m.snapshot.nodes) {
    const l = { cluster: n.cluster, node: n.id };
    active.set(l, n.activeConnections);
    total.inc(l, n.totalConnections);
    bytesIn.inc(l, n.bytesIn);
    bytesOut.inc(l, n.bytesOut);
    failures.inc(l, n.failures);
    fallovers.inc(l, n.fallovers);
    for (const s of STATES) state.set({ ...l, state: s }, n.state === s ? 1 : 0);
    available.set(l, n.available ? 1 : 0);
    factor.set(l, n.loadFactor);
    scale.set(l, n.loadFactorScale ?? 1);
    connRate.set(l, n.connectionRate);
    byteRate.set(l, n.bytesRate);
  }

  const accepted = counter('protobalance_listener_accepted_total', 'Client connections accepted on the listener', ['listener']);
  const refused = counter('protobalance_listener_refused_total', 'Accepted clients turned away without a node (refused by a plugin, or no node available)', ['listener']);
  const refusals = counter(
    'protobalance_listener_refusals_total',
    'Accepted clients turned away without a node, by reason code (no-node, unavailable, local-shortage, preface, refused, or a plugin\'s own)',
    ['listener', 'reason'],
  );
  for (const l of m.snapshot.listeners) {
    accepted.inc({ listener: l.listener }, l.accepted);
    refused.inc({ listener: l.listener }, l.refused);
    for (const [reason, n] of Object.entries(l.refusedBy ?? {})) refusals.inc({ listener: l.listener, reason }, n);
  }
  return { contentType: registry.contentType, body: await registry.metrics() };
}
