/**
 * A fleet's transport on Redis. Keys, for fleet `<name>`:
 * - `pb:fleet:<name>:version`: a counter, one step per published state;
 * - `pb:fleet:<name>:state`: the last state published (JSON), which a balancer that starts
 *   later (or comes back from an outage) takes up;
 * - `pb:fleet:<name>:member:<member>`: each member's announcement, expiring unless renewed;
 * - channel `pb:fleet:<name>`: every state, as it is published.
 * Counting, storing and publishing are one Lua script, so versions are in the order the
 * states were stored, and the stored state is always the newest.
 */
import type { Redis } from 'ioredis';
import type { FleetConnector, FleetLinkState, FleetMember, FleetSnapshot, FleetState, FleetTransport, PublishedBy, PublishOptions } from 'protobalance';
import { openRedis, redactRedisUrl } from '../shared/redis-connection.ts';

// The version goes on from the highest the publisher has seen, so that a Redis that lost
// its data (restarted without persistence) cannot hand out versions the fleet has had.
// With ARGV[3] = 'first', nothing is stored over a state already there (0 is returned).
const PUBLISH = `
if ARGV[3] == 'first' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local v = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[2])) + 1
redis.call('SET', KEYS[1], v)
local msg = '{"version":' .. v .. ',' .. string.sub(ARGV[1], 2)
redis.call('SET', KEYS[2], msg)
redis.call('PUBLISH', KEYS[3], msg)
return v`;

const isState = (v: unknown): v is FleetState => {
  const s = v as Partial<FleetState> | null;
  return typeof s === 'object' && s !== null && typeof s.version === 'number' && typeof s.from === 'string' && typeof s.states === 'object' && typeof s.changes === 'object';
};

function parseState(text: string | null): FleetState | undefined {
  if (text === null) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isState(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class RedisFleetTransport implements FleetTransport {
  readonly url: string;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly keys: { version: string; state: string; channel: string; member: string };
  private readonly stateListeners: ((s: FleetState) => void)[] = [];
  private readonly linkListeners: ((s: 'up' | 'down', err?: unknown) => void)[] = [];
  private down = false;
  private closed = false;

  constructor(fleet: { redis: string; name: string }) {
    this.url = redactRedisUrl(fleet.redis);
    const base = `pb:fleet:${fleet.name}`;
    this.keys = { version: `${base}:version`, state: `${base}:state`, channel: base, member: `${base}:member:` };
    this.redis = openRedis(fleet.redis);
    this.sub = openRedis(fleet.redis, 'subscriber');
    this.redis.on('ready', () => {
      this.down = false;
      for (const l of this.linkListeners) l('up');
    });
    const lost = (err: unknown) => {
      if (this.down || this.closed) return;
      this.down = true;
      for (const l of this.linkListeners) l('down', err);
    };
    this.redis.on('error', lost);
    this.redis.on('close', () => lost(new Error('connection to Redis closed')));
    this.sub.on('error', () => {});
    this.sub.on('message', (_channel: string, text: string) => {
      const s = parseState(text);
      if (s) for (const l of this.stateListeners) l(s);
    });
    this.sub.subscribe(this.keys.channel).catch(() => {});
  }

  async publish(snapshot: FleetSnapshot, from: PublishedBy, options: PublishOptions): Promise<number> {
    const body = JSON.stringify({ from: from.member, instance: from.instance, at: from.at, states: snapshot.states, changes: snapshot.changes });
    const args = [body, String(options.after), options.first === true ? 'first' : 'always'];
    return Number(await this.redis.eval(PUBLISH, 3, this.keys.version, this.keys.state, this.keys.channel, ...args));
  }

  async load(): Promise<FleetState | undefined> {
    return parseState(await this.redis.get(this.keys.state));
  }

  async version(): Promise<number> {
    return Number((await this.redis.get(this.keys.version)) ?? 0);
  }

  async announce(member: FleetMember, ttlMs: number): Promise<FleetMember | undefined> {
    const before = await this.redis.set(this.keys.member + member.member, JSON.stringify(member), 'PX', Math.max(1, Math.round(ttlMs)), 'GET');
    try {
      return before === null ? undefined : (JSON.parse(before) as FleetMember);
    } catch {
      return undefined;
    }
  }

  async members(): Promise<FleetMember[]> {
    const keys: string[] = [];
    let cursor = '0';
    // Bounded: a fleet is balancers, not clients; a thousand is far past any real one.
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${this.keys.member}*`, 'COUNT', 100);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0' && keys.length < 1000);
    if (keys.length === 0) return [];
    const texts = await this.redis.mget(...keys);
    const out: FleetMember[] = [];
    for (const t of texts) {
      try {
        const m = JSON.parse(t ?? 'null') as FleetMember | null;
        if (m && typeof m.member === 'string') out.push(m);
      } catch {
        // A member key someone else wrote: not ours to list.
      }
    }
    return out.sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  async leave(member: string): Promise<void> {
    await this.redis.del(this.keys.member + member);
  }

  onState(listener: (state: FleetState) => void): void {
    this.stateListeners.push(listener);
  }

  onLink(listener: (state: 'up' | 'down', err?: unknown) => void): void {
    this.linkListeners.push(listener);
    if (this.redis.status === 'ready') listener('up');
  }

  state(): FleetLinkState {
    return this.closed ? 'closed' : this.down ? 'down' : this.redis.status === 'ready' ? 'up' : 'connecting';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sub.disconnect();
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

export const redisFleet: FleetConnector = (fleet) => new RedisFleetTransport(fleet);
