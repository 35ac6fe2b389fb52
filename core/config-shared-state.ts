/**
 * Validation of what balancers may share: client affinity (per cluster, with defaults once
 * at the top level) and the fleet (node states and runtime changes through Redis).
 *
 * A top-level `affinity: { store, ttl, maxEntries }` enables nothing by itself: it is what
 * every cluster's `affinity` starts from. A cluster says `store: 'sqlite'` to keep its
 * bindings local when the top level names Redis.
 */
import { hostname } from 'node:os';
import { DEFAULTS } from './config-defaults.ts';
import { checkKeys, duration, isObject, NAME, NAME_TEXT, optionalString, type Problems } from './config-fields.ts';
import type { ResolvedCluster, ResolvedConfig } from './types.ts';

type Affinity = ResolvedCluster['affinity'];

/** The top level's affinity fields: what clusters start from. */
export type AffinityDefaults = Omit<Affinity, 'enabled'>;

/** `redis://[user:pass@]host[:port][/db]` (or `rediss://`). */
export function isRedisUrl(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && /^(\/\d*)?$/.test(u.pathname);
  } catch {
    return false;
  }
}

const REDIS_TEXT = "a redis:// URL ('redis://host:port/db')";

function storeOf(p: Problems, field: string, raw: unknown, inherited: string | undefined): string | undefined {
  if (raw === undefined) return inherited;
  if (raw === 'sqlite') return undefined;
  if (!isRedisUrl(raw)) p.add(field, `${REDIS_TEXT} or 'sqlite'`, raw);
  return isRedisUrl(raw) ? raw : inherited;
}

function maxEntriesOf(p: Problems, field: string, raw: unknown, inherited: number): number {
  if (raw === undefined) return inherited;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1) {
    p.add(field, 'a whole number of at least 1', raw);
    return inherited;
  }
  return raw;
}

/** The top-level `affinity` block. */
export function affinityDefaultsOf(p: Problems, raw: unknown): AffinityDefaults {
  const base: AffinityDefaults = { ttl: DEFAULTS.affinityTtl, maxEntries: DEFAULTS.affinityMaxEntries };
  if (raw === undefined) return base;
  if (!isObject(raw)) {
    p.add('affinity', 'an object { store, ttl, maxEntries } (the defaults of every cluster)', raw);
    return base;
  }
  checkKeys(p, 'affinity', raw, ['store', 'ttl', 'maxEntries']);
  const store = storeOf(p, 'affinity.store', raw.store, undefined);
  return {
    ttl: duration(p, 'affinity.ttl', raw.ttl, base.ttl),
    maxEntries: maxEntriesOf(p, 'affinity.maxEntries', raw.maxEntries, base.maxEntries),
    ...(store ? { store } : {}),
  };
}

/** A cluster's `affinity` (at `field`): an object alone enables it. */
export function clusterAffinityOf(p: Problems, field: string, raw: unknown, defaults: AffinityDefaults): Affinity {
  const off: Affinity = { enabled: false, ...defaults };
  if (raw === undefined) return off;
  if (!isObject(raw)) {
    p.add(field, 'an object { enabled, ttl, maxEntries, store }', raw);
    return off;
  }
  checkKeys(p, field, raw, ['enabled', 'ttl', 'maxEntries', 'store']);
  const enabled = raw.enabled === undefined ? true : raw.enabled;
  if (typeof enabled !== 'boolean') p.add(`${field}.enabled`, 'true or false', enabled);
  const store = storeOf(p, `${field}.store`, raw.store, defaults.store);
  return {
    enabled: enabled === true,
    ttl: duration(p, `${field}.ttl`, raw.ttl, defaults.ttl),
    maxEntries: maxEntriesOf(p, `${field}.maxEntries`, raw.maxEntries, defaults.maxEntries),
    ...(store ? { store } : {}),
  };
}

/** Who this balancer is in its fleet, unless the config names it: host and process. */
const defaultMemberName = (): string => `${hostname()}-${process.pid}`;

/** `fleet: { redis, name, member }`, or undefined for a balancer on its own. */
export function fleetOf(p: Problems, raw: unknown): ResolvedConfig['fleet'] {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) {
    p.add('fleet', "an object { redis: 'redis://host:port/db', name }", raw);
    return undefined;
  }
  checkKeys(p, 'fleet', raw, ['redis', 'name', 'member']);
  if (!isRedisUrl(raw.redis)) p.add('fleet.redis', REDIS_TEXT, raw.redis);
  const name = optionalString(p, 'fleet.name', raw.name);
  if (name === undefined) p.add('fleet.name', `${NAME_TEXT}: the fleet's name, the same on every balancer of it`, raw.name);
  else if (!NAME.test(name)) p.add('fleet.name', NAME_TEXT, name);
  const member = optionalString(p, 'fleet.member', raw.member);
  if (member !== undefined && !NAME.test(member)) p.add('fleet.member', NAME_TEXT, member);
  if (!isRedisUrl(raw.redis) || name === undefined) return undefined;
  return { redis: raw.redis, name, member: member ?? defaultMemberName() };
}
