/**
 * What a listener lets in: at most `maxConnections` clients at once (code
 * 'listener-limit'), and from one client address at most `clientRate.connections` new
 * connections per `clientRate.per` (code 'client-rate'). Both exact across processes.
 */
import type { Logger, Refusal, ResolvedListener, SharedMemory } from 'protobalance';
import { addressKey, hit, RATE_LENGTH, seedSecret, untracked } from './rate.ts';
import { entryName, NAME, splitLimit, type Memory } from './memory.ts';

interface Gate {
  /** The listener's entry and limit, when it has `maxConnections`. */
  limit?: { entry: number; max: number };
  rate?: { table: Int32Array; connections: number; per: number; warned: boolean };
}

/** `::ffff:192.0.2.1` is 192.0.2.1: a client counts alike on a dual-stack listener. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export interface ListenerGates {
  readonly used: boolean;
  /** A refusal, or undefined after taking the listener's slot when it has a limit (then `took` is its entry). */
  admit(listener: string, address: string): { refusal?: Refusal; took?: number };
}

/** Keys of addresses seen lately: a SHA-256 per new connection is most of the rate's cost, and clients come back. */
const KEYS_KEPT = 10_000;

export function listenerGates(listeners: readonly ResolvedListener[], memory: Memory, shared: SharedMemory, log: Logger): ListenerGates {
  const gates = new Map<string, Gate>();
  let secret: Int32Array | undefined;
  const keys = new Map<string, { tag: number; start: number }>();
  const keyOf = (address: string) => {
    let key = keys.get(address);
    if (!key) {
      if (keys.size >= KEYS_KEPT) keys.clear();
      keys.set(address, (key = addressKey(secret!, address)));
    }
    return key;
  };
  for (const l of listeners) {
    const gate: Gate = {};
    if (l.maxConnections !== undefined) {
      const entry = memory.limits.entry(entryName.listener(l.name));
      if (entry < 0) log.warn({ listener: l.name }, 'the limits table is full: this listener is not limited');
      else gate.limit = { entry, max: memory.share(l.maxConnections, 1) };
    }
    if (l.clientRate !== undefined) {
      if (!secret) seedSecret((secret = shared.int32(`${NAME}/secret`, 8)));
      // One table per listener: its windows are of its own length.
      const tableName = `${NAME}/rate/${l.name}`;
      const table = shared.int32(tableName, RATE_LENGTH);
      let connections = l.clientRate.connections;
      if (shared.slots > 1 && !(shared.sharedArray(tableName) && shared.sharedArray(`${NAME}/secret`))) {
        log.warn({ listener: l.name }, 'no shared memory for the client rate: each process counts its share');
        connections = splitLimit(connections, shared.slots, 1);
      }
      gate.rate = { table, connections, per: l.clientRate.per, warned: false };
    }
    if (gate.limit || gate.rate) gates.set(l.name, gate);
  }
  return {
    used: gates.size > 0,
    admit(listener, address) {
      const gate = gates.get(listener);
      if (!gate) return {};
      if (gate.rate) {
        const r = gate.rate;
        const client = plainAddress(address);
        const { tag, start } = keyOf(client);
        const answer = hit(r.table, tag, start, Math.floor(Date.now() / r.per), r.connections);
        if (answer === 'limited') {
          const message = `${client} opened its ${r.connections} connections of this ${r.per} ms window on listener ${listener}`;
          return { refusal: { code: 'client-rate', message } };
        }
        if (answer === 'untracked' && !r.warned) {
          r.warned = true;
          log.warn({ listener, untracked: untracked(r.table) }, 'client rate table full for this window: some clients are let through without a rate limit');
        }
      }
      if (gate.limit) {
        if (!memory.limits.claim(gate.limit.entry, gate.limit.max)) {
          const message = `listener ${listener} holds its maxConnections (${gate.limit.max})`;
          return { refusal: { code: 'listener-limit', message } };
        }
        return { took: gate.limit.entry };
      }
      return {};
    },
  };
}
