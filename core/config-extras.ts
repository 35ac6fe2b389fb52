/** Validation of the optional nested blocks: node load probes, health checks, sandbox limits, admin. */
import { isHost, parseHostPort } from './address.ts';
import { DEFAULTS } from './config-defaults.ts';
import { checkKeys, duration, isObject, optionalString, TIMER_MAX_MS, type Problems } from './config-fields.ts';
import type { ResolvedConfig, ResolvedHealthCheck, ResolvedProbe } from './types.ts';

export function probeOf(p: Problems, f: string, raw: unknown): ResolvedProbe | undefined {
  if (!isObject(raw)) {
    p.add(f, 'an object { url } or { tcp }', raw);
    return undefined;
  }
  checkKeys(p, f, raw, ['url', 'tcp', 'interval', 'timeout', 'metric']);
  if ((raw.url === undefined) === (raw.tcp === undefined)) {
    p.say(f, 'give exactly one of "url" (http://…) or "tcp" ("host:port")');
    return undefined;
  }
  let kind: ResolvedProbe['kind'] = 'http';
  let target = '';
  if (raw.url !== undefined) {
    if (typeof raw.url !== 'string' || !/^http:\/\/[^/\s]+/.test(raw.url)) return void p.add(`${f}.url`, 'an "http://host:port/path" URL', raw.url);
    target = raw.url;
  } else {
    const hp = typeof raw.tcp === 'string' ? parseHostPort(raw.tcp) : undefined;
    if (!hp || hp.port === undefined || !isHost(hp.host)) return void p.add(`${f}.tcp`, '"host:port"', raw.tcp);
    kind = 'tcp';
    target = raw.tcp as string;
  }
  const interval = duration(p, `${f}.interval`, raw.interval, DEFAULTS.probeInterval, TIMER_MAX_MS);
  const timeout = Math.min(duration(p, `${f}.timeout`, raw.timeout, DEFAULTS.probeTimeout, TIMER_MAX_MS), interval);
  if (interval < 100) p.add(`${f}.interval`, 'at least "100ms"', raw.interval);
  const metric = optionalString(p, `${f}.metric`, raw.metric) ?? DEFAULTS.probeMetric;
  return { kind, target, interval, timeout, metric };
}

export function healthCheckOf(p: Problems, f: string, raw: unknown): ResolvedHealthCheck | undefined {
  if (!isObject(raw)) {
    p.add(f, 'an object { interval, timeout, send, expect, rise, fall }', raw);
    return undefined;
  }
  checkKeys(p, f, raw, ['interval', 'timeout', 'send', 'expect', 'rise', 'fall']);
  const interval = duration(p, `${f}.interval`, raw.interval, DEFAULTS.healthCheckInterval, TIMER_MAX_MS);
  if (interval < 100) p.add(`${f}.interval`, 'at least "100ms"', raw.interval);
  const timeout = Math.min(duration(p, `${f}.timeout`, raw.timeout, DEFAULTS.healthCheckTimeout, TIMER_MAX_MS), interval);
  if (timeout < 1 && raw.timeout !== undefined) p.add(`${f}.timeout`, 'at least "1ms"', raw.timeout);
  const count = (key: 'rise' | 'fall', fallback: number): number => {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      p.add(`${f}.${key}`, 'a whole number of at least 1', value);
      return fallback;
    }
    return value;
  };
  return {
    interval,
    timeout,
    send: optionalString(p, `${f}.send`, raw.send),
    expect: optionalString(p, `${f}.expect`, raw.expect),
    rise: count('rise', DEFAULTS.healthCheckRise),
    fall: count('fall', DEFAULTS.healthCheckFall),
  };
}

/** The largest `sandbox.memoryLimit`, in MiB: one algorithm's isolate never needs more. */
export const MAX_MEMORY_MIB = 4096;

export function sandboxOf(p: Problems, raw: unknown): ResolvedConfig['sandbox'] {
  const out = {
    cpuTimeout: DEFAULTS.sandboxCpuTimeout,
    memoryLimit: DEFAULTS.sandboxMemoryLimit,
    maxFailures: DEFAULTS.sandboxMaxFailures,
  };
  if (raw === undefined) return out;
  if (!isObject(raw)) {
    p.add('sandbox', 'an object { cpuTimeout, memoryLimit, maxFailures }', raw);
    return out;
  }
  checkKeys(p, 'sandbox', raw, ['cpuTimeout', 'memoryLimit', 'maxFailures']);
  out.cpuTimeout = duration(p, 'sandbox.cpuTimeout', raw.cpuTimeout, out.cpuTimeout);
  if (out.cpuTimeout < 1) p.add('sandbox.cpuTimeout', 'at least "1ms"', raw.cpuTimeout);
  if (raw.memoryLimit !== undefined) {
    // isolated-vm takes any number; a huge one (or Infinity) means no limit at all.
    if (typeof raw.memoryLimit !== 'number' || !(raw.memoryLimit >= 8)) p.add('sandbox.memoryLimit', 'a number of MiB, at least 8', raw.memoryLimit);
    else if (!(raw.memoryLimit <= MAX_MEMORY_MIB)) p.add('sandbox.memoryLimit', `a number of MiB, at most ${MAX_MEMORY_MIB}`, raw.memoryLimit);
    else out.memoryLimit = raw.memoryLimit;
  }
  if (raw.maxFailures !== undefined) {
    if (typeof raw.maxFailures !== 'number' || !Number.isInteger(raw.maxFailures) || raw.maxFailures < 1) {
      p.add('sandbox.maxFailures', 'a whole number of at least 1', raw.maxFailures);
    } else out.maxFailures = raw.maxFailures;
  }
  return out;
}

/** `admin: { host, port, token }`, or `false`: the balancer then serves no admin API. */
export function adminOf(p: Problems, raw: unknown): ResolvedConfig['admin'] {
  const off = raw === false;
  const admin = isObject(raw) ? raw : {};
  if (raw !== undefined && !off && !isObject(raw)) p.add('admin', 'an object { host, port, token }, or false for no admin API', raw);
  else checkKeys(p, 'admin', admin, ['host', 'port', 'token']);
  if (admin.port !== undefined && (typeof admin.port !== 'number' || !Number.isInteger(admin.port) || admin.port < 0 || admin.port > 65535)) {
    p.add('admin.port', 'a port 0-65535', admin.port);
  }
  return {
    enabled: !off,
    host: optionalString(p, 'admin.host', admin.host) ?? DEFAULTS.adminHost,
    port: typeof admin.port === 'number' ? admin.port : DEFAULTS.adminPort,
    token: optionalString(p, 'admin.token', admin.token),
  };
}
