/**
 * A fleet: balancers that share node states and runtime changes. The core keeps them in
 * step (core/fleet/sync.ts) over a `FleetTransport`, which the assembly supplies (the
 * built-in one is on Redis: pub/sub for news, a key for the last state, one key per member).
 */
import type { RuntimeChanges } from '../runtime-changes.ts';
import type { NodeState } from '../types.ts';

/** What a fleet shares: operator-set node states (green is left out) and runtime changes. */
export interface FleetSnapshot {
  states: Record<string, NodeState>;
  changes: RuntimeChanges;
}

/** A snapshot as published: its version (rising across the fleet), and who made it. */
export interface FleetState extends FleetSnapshot {
  version: number;
  /** The member that made the change. */
  from: string;
  /** That member's process: its own news are recognised even under a reused member name. */
  instance: string;
  /** Epoch ms on that member when it was published. */
  at: number;
}

/** A member as it announces itself, every few seconds. */
export interface FleetMember {
  member: string;
  host: string;
  pid: number;
  /** The version of the fleet's state it serves. */
  version: number;
  /** Its admin API, when it serves one. */
  admin?: string | undefined;
  /** Its process (a random id per start): two balancers under one member name differ here. */
  instance?: string | undefined;
}

/** Who publishes a state. */
export interface PublishedBy {
  member: string;
  /** This process (a random id per start). */
  instance: string;
  /** Epoch ms. */
  at: number;
}

export interface PublishOptions {
  /** The highest version the publisher has seen: the new one is above it. */
  after: number;
  /** Only when the fleet has no state yet (the first member to come up); else 0 is returned. */
  first?: boolean;
}

export type FleetLinkState = 'connecting' | 'up' | 'down' | 'closed';

export interface FleetTransport {
  /** Where, for logs and status (no password). */
  readonly url: string;
  /**
   * Store `snapshot` as the fleet's last state and tell every member; resolves with the
   * version it got (0: not stored, see `first`). Rejects (changing nothing) while the
   * fleet's store is unreachable.
   */
  publish(snapshot: FleetSnapshot, from: PublishedBy, options: PublishOptions): Promise<number>;
  /** The fleet's last state, if any was ever published. Rejects while unreachable. */
  load(): Promise<FleetState | undefined>;
  /** The fleet's newest version (0: none yet). Rejects while unreachable. */
  version(): Promise<number>;
  /** Announce this member (it is listed for `ttlMs`, unless announced again); resolves with the listing it replaced. */
  announce(member: FleetMember, ttlMs: number): Promise<FleetMember | undefined>;
  /** The members listed now. */
  members(): Promise<FleetMember[]>;
  /** Forget this member at once (a clean stop). */
  leave(member: string): Promise<void>;
  /** Every state published, this member's own included. */
  onState(listener: (state: FleetState) => void): void;
  /** The link came up (the first time and after every outage), or went down. */
  onLink(listener: (state: 'up' | 'down', err?: unknown) => void): void;
  state(): FleetLinkState;
  close(): Promise<void>;
}

/** Opens the transport of a fleet config (`assembly().fleet`). */
export type FleetConnector = (fleet: { redis: string; name: string }) => FleetTransport;
