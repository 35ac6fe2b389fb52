/**
 * One listener's access rules and the verdict on a client address. Built once per
 * generation from the listener's `allow` and `deny`; a verdict parses the client's
 * address once (into a scratch array) and makes at most two binary searches.
 *
 * Deny wins: a client in `deny` is refused even when `allow` covers it too. With `allow`
 * given (even empty), only clients it covers get in; without it, everyone not denied.
 */
import { NetworkSet, parseAddress, parseNetworks, V4, V6 } from './networks.ts';

export interface ListenerRules {
  readonly listener: string;
  readonly allow: NetworkSet | undefined;
  readonly deny: NetworkSet | undefined;
}

/** Rules from a listener's resolved fields; throws on an entry that is not a network (config validation reports those first). */
export function listenerRules(listener: string, allow: unknown, deny: unknown): ListenerRules {
  const set = (value: unknown, field: string): NetworkSet | undefined => {
    if (value === undefined) return undefined;
    const { networks, problems } = parseNetworks(value);
    const problem = problems[0];
    if (problem !== undefined) throw new Error(`listener ${listener}: ${field}${problem.startsWith('[') ? '' : ': '}${problem}`);
    return new NetworkSet(networks);
  };
  return { listener, allow: set(allow, 'allow'), deny: set(deny, 'deny') };
}

// The client's address as words; verdicts are synchronous, so one array serves all.
const scratch = new Uint32Array(4);

/** Why `address` may not use the listener, or undefined when it may. */
export function refusalFor(rules: ListenerRules, address: string): string | undefined {
  const family = parseAddress(address, scratch);
  if (family !== V4 && family !== V6) {
    // Fail closed: a client we cannot place is in no allowed network.
    return `client address ${JSON.stringify(address)} could not be read`;
  }
  const denied = rules.deny?.find(family, scratch);
  if (denied !== undefined) return `${address} is denied on listener ${rules.listener} (deny ${denied})`;
  if (rules.allow && rules.allow.find(family, scratch) === undefined) {
    return `${address} is not allowed on listener ${rules.listener} (in no allow network)`;
  }
  return undefined;
}
