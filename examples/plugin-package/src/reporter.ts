/**
 * What the plugin does with the balancer's hooks: every process of the group (primary and
 * workers alike) reports the connections it forwards itself; StatsD sums the counters
 * and timers of all of them. Every tap here is synchronous and only updates the client's
 * table in memory: the forwarding path never waits on the network.
 *
 * Each config generation applies the plugin afresh and gets its own client; the client is
 * closed in that generation's `shutdown` (a reload, or the balancer stopping). Connections
 * keep the hooks of the generation they arrived in, so one that ends after a reload is
 * still counted, by the old generation's client.
 */
import type { BalancerNode, ConnectionContext, ConnectionTotals, NodeState, PluginApi, PluginHooks } from 'protobalance';
import { metricName, StatsdClient } from './client.js';

export const NAME = 'statsd';

/** The options once the host resolved them (durations in ms). */
export interface StatsdOptions {
  host: string;
  port: number;
  prefix: string;
  interval: number;
  maxPacket: number;
}

/** Gauge values of the node states: higher is worse. */
export const STATE_VALUE: Record<NodeState, number> = { green: 0, yellow: 1, red: 2 };

export function reporter(options: StatsdOptions) {
  const name = (...parts: string[]) => [options.prefix, metricName(...parts)].filter((p) => p !== '').join('.');
  const nodeName = (node: BalancerNode, what: string) => name('node', node.cluster, node.id) + `.${what}`;
  const listenerName = (ctx: ConnectionContext, what: string) => name('listener', ctx.client.listener) + `.${what}`;

  return {
    apply(hooks: PluginHooks, api: PluginApi): void {
      const client = new StatsdClient({
        host: options.host,
        port: options.port,
        interval: options.interval,
        maxPacket: options.maxPacket,
        droppedName: name('statsd', 'dropped'),
        onError: (err) => api.logger.warn({ err: err.message, host: options.host, port: options.port }, 'statsd: cannot send'),
      });

      const stateGauges = () => {
        for (const cluster of api.balancer.clusters()) {
          for (const node of cluster.nodes) client.gauge(nodeName(node, 'state'), STATE_VALUE[node.state]);
        }
      };
      // Every generation states where each node stands, so that the gauges exist from the start.
      hooks.init.tap(NAME, () => stateGauges());
      hooks.nodeStateChanged.tap(NAME, (node: BalancerNode, state: NodeState) => {
        client.gauge(nodeName(node, 'state'), STATE_VALUE[state]);
      });

      hooks.connected.tap(NAME, (ctx: ConnectionContext, node: BalancerNode) => {
        ctx.data[NAME] = node;
        client.count(nodeName(node, 'connections'));
        client.count(listenerName(ctx, 'connections'));
      });

      // A bail hook: the first tap that returns a node ends it, so this one runs first (an
      // early stage) to see every fall-over, and returns nothing: the choice stays the others'.
      hooks.fallover.tap({ name: NAME, stage: -1000 }, (_ctx: ConnectionContext, node: BalancerNode) => {
        client.count(nodeName(node, 'fallovers'));
        return undefined;
      });

      hooks.closed.tap(NAME, (ctx: ConnectionContext, totals: ConnectionTotals) => {
        client.count(listenerName(ctx, `outcome.${totals.outcome}`));
        const node = ctx.data[NAME] as BalancerNode | undefined;
        if (node === undefined) return; // refused, no node, every node failed: nothing flowed
        for (const metric of [nodeName(node, ''), listenerName(ctx, '')]) {
          client.count(`${metric}bytes_from_client`, totals.bytesFromClient);
          client.count(`${metric}bytes_to_client`, totals.bytesToClient);
          client.timing(`${metric}duration`, totals.durationMs);
        }
      });

      hooks.shutdown.tapPromise(NAME, () => client.close());
    },
  };
}
