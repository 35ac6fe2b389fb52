/**
 * Access control: per listener, `allow` and `deny` lists of client networks. A client a
 * listener does not let in is refused in the `accept` hook, before any node is chosen or
 * dialled, with the code `access-denied` (counted per listener and code in metrics and
 * status). Deny wins; with `allow`, only its networks get in; with only `deny`, everyone
 * else does. IPv4-mapped IPv6 (`::ffff:10.1.2.3`, how a dual-stack socket shows an IPv4
 * client) is IPv4, in rules and in client addresses alike.
 *
 * The rules are parsed once per generation into sorted blocks (networks.ts); a client
 * costs one parse of its address and at most two binary searches. Nothing is tapped when
 * no listener has rules. With a PROXY protocol preface the rules see the client the
 * preface named (`ctx.client`), not the balancer in front.
 */
import { definePlugin } from 'protobalance';
import { FIELDS } from './fields.ts';
import { listenerRules, refusalFor, type ListenerRules } from './rules.ts';

/** The code refusals are counted under. */
export const CODE = 'access-denied';

export default definePlugin({
  name: 'access-control',
  meta: { protobalance: '^0.1' },
  // Before other plugins' accept taps: a refused client should cost them nothing.
  enforce: 'pre',
  fields: FIELDS,
  apply(hooks, api) {
    const byListener = new Map<string, ListenerRules>();
    for (const l of api.config.listeners) {
      if (l.allow === undefined && l.deny === undefined) continue;
      byListener.set(l.name, listenerRules(l.name, l.allow, l.deny));
      // Every process applies the config: the primary alone says it.
      if (l.allow?.length === 0 && api.role === 'primary') api.logger.warn({ listener: l.name }, 'allow is an empty list: this listener refuses every client');
    }
    if (byListener.size === 0) return;
    hooks.accept.tap('access-control', (ctx) => {
      const rules = byListener.get(ctx.client.listener);
      if (rules === undefined) return undefined;
      const message = refusalFor(rules, ctx.client.address);
      return message === undefined ? undefined : { code: CODE, message };
    });
  },
});
