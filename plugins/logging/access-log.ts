/**
 * Access log: with `log: { access: true }`, one info line per connection as it ends:
 * client address and port, listener, cluster, node, bytes each way, duration, and how it
 * ended (closed, reset, refused, no-node, unavailable, killed) with the reason. Nothing
 * runs per connection when it is off.
 *
 * The client's address is read when the connection is accepted: the data path asks the
 * kernel for it only when someone reads it, and after the close it is gone.
 */
import { definePlugin } from 'protobalance';

export default definePlugin({
  name: 'access-log',
  // First, so that its accept tap reads the client before any other tap can refuse it.
  enforce: 'pre',
  apply(hooks, api) {
    if (!api.config.log.access) return;
    const log = api.logger;
    hooks.accept.tap('access-log', (ctx) => {
      ctx.data.accessLog = { client: ctx.client.address, port: ctx.client.port };
      return undefined;
    });
    hooks.closed.tap('access-log', (ctx, totals) => {
      const seen = ctx.data.accessLog as { client: string; port: number } | undefined;
      log.info(
        {
          conn: ctx.id,
          client: seen?.client ?? ctx.client.address,
          clientPort: seen?.port ?? ctx.client.port,
          listener: ctx.client.listener,
          cluster: ctx.cluster.name,
          node: ctx.node?.key,
          bytesFromClient: totals.bytesFromClient,
          bytesToClient: totals.bytesToClient,
          durationMs: totals.durationMs,
          outcome: totals.outcome,
          ...(totals.reason === undefined ? {} : { reason: totals.reason }),
        },
        'connection',
      );
    });
  },
});
