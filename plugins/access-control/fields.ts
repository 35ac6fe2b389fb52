/**
 * The config fields of the access-control plugin: `allow` and `deny` on listeners,
 * declared for the config check (`FIELDS`, the plugin's `fields`) and for TypeScript (the
 * augmentation, which types users' configs and `api.config.listeners[i]`).
 *
 * `type: 'any'` with a check, because an entry is a network in text and a bad one must be
 * reported with its index and why (`[2]: "10.0.0.0/33" is not a network: prefix over 32`);
 * the resolved value stays the list as written, so that status and `protobalance check`
 * show what the operator wrote. The parsed form is built per generation in `apply`.
 */
import type { Plugin } from 'protobalance';
import { parseNetworks } from './networks.ts';

declare module 'protobalance' {
  interface ListenerFields {
    /** Only clients in these networks (CIDR blocks or addresses, IPv4 or IPv6) may connect. */
    allow?: readonly string[] | undefined;
    /** Clients in these networks are refused, even when `allow` covers them too. */
    deny?: readonly string[] | undefined;
  }
}

/** The problems of a rule list as one message: every bad entry, each with its index. */
export function checkNetworks(value: unknown): string | undefined {
  const { problems } = parseNetworks(value);
  return problems.length === 0 ? undefined : problems.join('; ');
}

const describe = 'a list of networks like ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]';

export const FIELDS = {
  listener: {
    allow: {
      type: 'any',
      describe,
      description: 'only clients in these networks may connect (CIDR blocks or addresses, IPv4 or IPv6)',
      check: checkNetworks,
    },
    deny: {
      type: 'any',
      describe,
      description: 'clients in these networks are refused (deny wins over allow)',
      check: checkNetworks,
    },
  },
} satisfies NonNullable<Plugin['fields']>;
