/**
 * Keeps this balancer in step with its fleet. A node state or runtime change made here
 * (admin API, CLI, dashboard) is published once every process has it; a change published
 * by another member is applied here through the same process-group calls, marked as the
 * fleet's so that it is not published again. Every published state is whole (all states,
 * all changes) and versioned, so applying the newest one is all a member ever does, and a
 * member that starts later, or was cut off, takes up the stored one.
 *
 * While the fleet's store is unreachable, changes made here apply here and are published
 * when it is back; the newest write wins, as with any last-writer store. The primary of a
 * process group runs this; its workers hear changes from it as they do from the admin API.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ProcessGroup } from '../workers/group.ts';
import type { FleetLinkState, FleetMember, FleetSnapshot, FleetState, FleetTransport } from './types.ts';

export interface FleetSyncOptions {
  group: ProcessGroup;
  transport: FleetTransport;
  fleet: { name: string; member: string };
  logger: Logger;
  /** How often this member renews its listing (default 2 s; it lapses after three). */
  announceEveryMs?: number;
}

export interface FleetStatus {
  name: string;
  member: string;
  store: string;
  link: FleetLinkState;
  /** The version of the fleet's state this balancer serves (0: none taken up yet). */
  version: number;
  /** A change made here waits to be published (the store was unreachable). */
  unpublished: boolean;
  members: (FleetMember & { self: boolean })[];
}

/** JSON with object keys sorted: two snapshots are equal exactly when their texts are. */
function canonical(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
}

export class FleetSync {
  private readonly o: FleetSyncOptions;
  private readonly instance = randomUUID();
  private version = 0;
  private unpublished = false;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private wasDown = false;
  private stopped = false;
  private admin: string | undefined;
  private twinWarned = false;

  constructor(options: FleetSyncOptions) {
    this.o = options;
  }

  private get every(): number {
    return this.o.announceEveryMs ?? 2_000;
  }

  start(): void {
    const { group, transport } = this.o;
    group.onChange((origin) => {
      if (origin === 'local') this.shareLocal();
    });
    transport.onState((s) => this.heard(s));
    transport.onLink((state, err) => (state === 'up' ? this.linkUp() : this.linkDown(err)));
    this.timer = setInterval(() => this.tick(), this.every);
    this.timer.unref();
  }

  /** This member's admin API, listed with it. */
  setAdmin(address: string): void {
    this.admin = address;
    this.announce();
  }

  async status(): Promise<FleetStatus> {
    const { transport, fleet } = this.o;
    const members = transport.state() === 'up' ? await transport.members().catch(() => []) : [];
    return {
      name: fleet.name,
      member: fleet.member,
      store: transport.url,
      link: transport.state(),
      version: this.version,
      unpublished: this.unpublished,
      members: members.map((m) => ({ ...m, self: m.member === fleet.member })),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.queue.catch(() => undefined);
    if (this.o.transport.state() === 'up') await this.o.transport.leave(this.o.fleet.member).catch(() => undefined);
    await this.o.transport.close();
  }

  private serially(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => this.o.logger.error({ fleet: this.o.fleet.name, err: describeError(err) }, 'fleet: a change could not be applied'));
  }

  private snapshot(): FleetSnapshot {
    const b = this.o.group.balancer;
    return { states: b.nodeStates(), changes: b.runtimeChanges() };
  }

  private shareLocal(): void {
    this.unpublished = true;
    this.serially(() => this.publish());
  }

  /** Publish what this balancer holds; `first`: only if the fleet has no state yet. */
  private async publish(first = false): Promise<void> {
    if (!this.unpublished || this.stopped || this.o.transport.state() !== 'up') return;
    this.unpublished = false;
    const { fleet, transport, logger } = this.o;
    try {
      const by = { member: fleet.member, instance: this.instance, at: Date.now() };
      const version = await transport.publish(this.snapshot(), by, { after: this.version, first });
      // Another member stored a state first: take that one (its news may have been missed
      // by a subscriber still reconnecting).
      if (version === 0) return await this.catchUp();
      this.version = Math.max(this.version, version);
      this.announce();
      logger.info({ fleet: fleet.name, version }, first ? 'fleet: the fleet had no state; it starts from this balancer\'s' : 'fleet: change shared with the fleet');
    } catch (err) {
      this.unpublished = true;
      logger.warn({ fleet: fleet.name, err: describeError(err) }, 'fleet: cannot share the change now; it holds here and is shared when Redis is back');
    }
  }

  private heard(s: FleetState): void {
    // Our own news: its version is served already.
    if (s.instance === this.instance) this.version = Math.max(this.version, s.version);
    else this.serially(() => this.take(s));
  }

  /**
   * Apply `s` unless something newer was: runtime changes first (they may add the nodes
   * states name). Not while a change made here waits to be published: that one is newer
   * in intent, and is about to win.
   */
  private async take(s: FleetState): Promise<void> {
    if (s.version <= this.version || this.stopped || this.unpublished) return;
    this.version = s.version;
    const { group, logger, fleet } = this.o;
    const b = group.balancer;
    if (canonical(b.runtimeChanges()) !== canonical(s.changes)) await group.change(() => s.changes, 'fleet');
    const current = b.nodeStates();
    for (const key of new Set([...Object.keys(current), ...Object.keys(s.states)])) {
      const want = s.states[key] ?? 'green';
      const node = b.node(key);
      if (node) {
        if (node.state !== want) await group.setNodeState(key, want, 'fleet');
      } else if (s.states[key]) {
        logger.warn({ fleet: fleet.name, node: key, state: want }, "fleet: a state for a node this balancer's config does not have; not taken (members need the same clusters and node ids)");
      }
    }
    this.announce();
    logger.info({ fleet: fleet.name, from: s.from, version: s.version, afterMs: Math.max(0, Date.now() - s.at) }, 'fleet: took up a change from the fleet');
  }

  private linkUp(): void {
    const { logger, fleet, transport } = this.o;
    if (this.wasDown) logger.info({ fleet: fleet.name, store: transport.url }, 'fleet: Redis reachable again');
    this.wasDown = false;
    this.announce();
    this.serially(async () => {
      if (this.unpublished) return this.publish();
      const stored = await transport.load();
      if (stored) return this.take(stored);
      // The first member up (or Redis lost its data): what it holds becomes the fleet's
      // state, unless another member stored one meanwhile (then its news is on the way).
      this.unpublished = true;
      return this.publish(true);
    });
  }

  private linkDown(err: unknown): void {
    this.wasDown = true;
    const { logger, fleet, transport } = this.o;
    logger.warn({ fleet: fleet.name, store: transport.url, err: describeError(err) }, 'fleet: Redis unreachable; changes made here apply here and are shared when it is back');
  }

  /** Take up the stored state if it is newer than the one served here. */
  private async catchUp(): Promise<void> {
    const stored = await this.o.transport.load();
    if (stored) await this.take(stored);
  }

  /**
   * Every few seconds: this member's listing, and a look at the fleet's version, so that a
   * state whose news was lost (a subscriber reconnecting when it was published) is still
   * taken up.
   */
  private tick(): void {
    const { transport } = this.o;
    if (this.stopped || transport.state() !== 'up') return;
    this.announce();
    transport.version().then(
      (v) => {
        if (v > this.version && !this.unpublished) this.serially(() => this.catchUp());
      },
      () => undefined,
    );
  }

  private announce(): void {
    const { transport, fleet } = this.o;
    if (this.stopped || transport.state() !== 'up') return;
    const me: FleetMember = { member: fleet.member, host: hostname(), pid: process.pid, version: this.version, instance: this.instance, ...(this.admin ? { admin: this.admin } : {}) };
    transport.announce(me, this.every * 3).then((before) => {
      if (!before?.instance || before.instance === this.instance || this.twinWarned) return;
      this.twinWarned = true;
      const other = `${before.host} pid ${before.pid}${before.admin ? `, admin ${before.admin}` : ''}`;
      this.o.logger.warn({ fleet: fleet.name, member: fleet.member, other }, 'fleet: another balancer announces itself under this member name; give each its own fleet.member');
    }, () => undefined);
  }
}
