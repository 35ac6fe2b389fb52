/** Default values of optional config fields (durations in ms). */
import type { LogLevel } from './types.ts';

export const DEFAULTS = {
  connectTimeout: 2_000,
  retryInterval: 10_000,
  drainTimeout: 10_000,
  /** Nodes tried after the first one fails, per connection (HAProxy's `retries` is 3 too). */
  maxFallovers: 3,
  idleTimeout: 0,
  rateWindow: 10_000,
  sandboxCpuTimeout: 50,
  sandboxMemoryLimit: 32,
  sandboxMaxFailures: 5,
  probeInterval: 5_000,
  probeTimeout: 2_000,
  probeMetric: 'load',
  healthCheckInterval: 5_000,
  healthCheckTimeout: 2_000,
  healthCheckRise: 2,
  healthCheckFall: 3,
  stateDir: './.protobalance',
  adminHost: '127.0.0.1',
  adminPort: 9100,
  balance: 'round-robin',
  affinityTtl: 30 * 86_400_000,
  affinityMaxEntries: 100_000,
  logLevel: 'info' as LogLevel,
};

/** A node's load factor, in the config and through the admin API alike. */
export const LOAD_FACTOR = { min: 0.001, max: 1000 } as const;
