/**
 * Coverage-guided fuzz target (@jazzer.js/core) for config validation (core/config-validate.ts
 * `validateConfig`, and `resolveNodeConfig`, which checks a node the admin API adds). Run as
 * `npm run fuzz -- config --seconds N`.
 *
 * `fuzz(data)` reads `data` as JSON (what is no JSON is skipped) and throws only when a
 * promise of the validator is broken, a real bug:
 * - it throws nothing but PB_ERR_CONFIG_INVALID, and every problem it lists is one line of
 *   at most 2,000 characters that starts with the path of the field it is about;
 * - a config it takes, written back as a config (`unresolve`), validates to the same config.
 * test/core/config-fuzz.test.ts holds the same properties for fast-check, and the inputs
 * this target found, as regressions.
 */
import { isDeepStrictEqual } from 'node:util';
import { formatHostPort, formatPortRange } from '../../core/address.ts';
import { resolveNodeConfig, validateConfig } from '../../core/config-validate.ts';
import { isProtoBalanceError } from '../../core/errors.ts';
import type { ResolvedConfig } from '../../core/types.ts';

const SOURCE = '/etc/pb/protobalance.config.ts';
/** A field path (`.name`, `[0]`, `["odd key"]`), then `: ` and the problem, on one line. */
const SEGMENT = String.raw`(?:\.?[\w-]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])`;
const LINE = new RegExp(String.raw`^${SEGMENT}+: \S[^\n\r\u2028\u2029]*$`);

export type Outcome = { ok: true; config: ResolvedConfig } | { ok: false; lines: readonly string[] };

/** Problems of a PB_ERR_CONFIG_INVALID, checked; anything else thrown is rethrown. */
function problemLines(err: unknown): readonly string[] {
  if (!isProtoBalanceError(err) || err.code !== 'PB_ERR_CONFIG_INVALID') throw err;
  // Only a config that is no object at all has no field to name: the file is named.
  if (err.details.length === 0 && /^(protobalance\.config\.ts|node): expected an object /.test(err.message)) return [];
  if (err.details.length === 0) throw new Error(`no problem listed: ${err.message}`);
  for (const line of err.details) {
    if (!LINE.test(line)) throw new Error(`a problem that does not start with a field path, or spans lines: ${JSON.stringify(line.slice(0, 300))}`);
    if (line.length > 2000) throw new Error(`a problem of ${line.length} characters: ${JSON.stringify(line.slice(0, 200))}…`);
  }
  return err.details;
}

/** Validates `raw` as a config; throws only when the validator breaks its promises. */
export function checkConfig(raw: unknown): Outcome {
  let config: ResolvedConfig;
  try {
    config = validateConfig(raw, SOURCE);
  } catch (err) {
    const lines = problemLines(err);
    if (isProtoBalanceError(err) && !err.message.startsWith('protobalance.config.ts: ')) throw new Error(`message names no file: ${err.message}`);
    return { ok: false, lines };
  }
  const again = validateConfig(unresolve(config), SOURCE);
  if (!isDeepStrictEqual(again, config)) throw new Error('a valid config written back validates to another config');
  return { ok: true, config };
}

/**
 * A resolved config written back as a config: every field explicit, durations in ms. Top
 * fields that resolve to their own form (durations, sandbox, log, workers, …) are copied,
 * so that a field added later is covered, or shows in the round trip when it is not.
 */
export function unresolve(r: ResolvedConfig): Record<string, unknown> {
  const { source: _source, baseDir: _baseDir, listeners: _l, clusters: _c, admin: _a, plugins: _p, ...same } = r;
  return {
    ...same,
    listeners: r.listeners.map((l) => ({ name: l.name, host: l.host, cluster: l.cluster, port: l.portFrom === 0 ? 0 : formatPortRange({ from: l.portFrom, to: l.portTo }) })),
    clusters: Object.fromEntries(
      Object.values(r.clusters).map(({ name, nodes, ...rest }) => [
        name,
        {
          ...rest,
          nodes: nodes.map((n) => ({
            id: n.id,
            address: formatHostPort(n),
            loadFactor: n.loadFactor,
            fallover: n.fallover,
            connectTimeout: n.connectTimeout,
            probe: n.probe && { [n.probe.kind === 'tcp' ? 'tcp' : 'url']: n.probe.target, interval: n.probe.interval, timeout: n.probe.timeout, metric: n.probe.metric },
          })),
        },
      ]),
    ),
    admin: r.admin.enabled ? { host: r.admin.host, port: r.admin.port, token: r.admin.token } : false,
  };
}

export function fuzz(data: Buffer): void {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return; // no JSON: nothing a config file holds
  }
  checkConfig(raw);
  try {
    resolveNodeConfig(raw, 2000); // the admin API's node body, checked as a config node
  } catch (err) {
    problemLines(err);
  }
}

/** Configs good and bad, for a starting corpus. */
export const SEEDS: readonly string[] = [
  { listeners: [{ port: 8080, host: '0.0.0.0', cluster: 'web' }], clusters: { web: { nodes: [{ id: 'a', address: '10.0.0.1:80', loadFactor: 2, fallover: 'b' }, { id: 'b', address: '[::1]:80' }] } } },
  { listeners: [{ port: '50000-50100', cluster: 'ftp', name: 'data' }], clusters: { ftp: { affinity: { ttl: '30d', maxEntries: 10 }, nodes: [{ id: 'x', address: '10.0.0.7' }] } } },
  {
    listeners: [{ port: 0, cluster: 'a' }],
    clusters: {
      a: { balance: 'client-hash', hashSecret: 's', fallover: 'b', connectTimeout: '1m30s', healthCheck: { interval: '5s', timeout: '1s', send: 'PING', expect: 'PONG', rise: 2, fall: 3 }, nodes: [{ id: 'n', address: 'db.example:5432', probe: { tcp: 'db.example:9', interval: '2s' } }] },
      b: { nodes: [{ id: 'm', address: 'fe80::1%eth0', probe: { url: 'http://10.0.0.1:8080/load', metric: 'load' } }] },
    },
    connectTimeout: '2s', retryInterval: 10000, drainTimeout: '10s', idleTimeout: '1h', rateWindow: '10s',
    sandbox: { cpuTimeout: '50ms', memoryLimit: 32, maxFailures: 5 }, watch: false, stateDir: './state',
    admin: { host: '127.0.0.1', port: 9100, token: 't' }, log: { level: 'warn', access: true }, workers: 2, dataPath: 'net', plugins: ['x'],
  },
  { listeners: [{ port: 80, cluster: 'toString' }], clusters: { 'a b': { nodes: [{ id: '', address: '300.1.1.1:0' }] } }, admin: false, connectTimeout: '25d' },
  { id: 'n1', address: '10.0.0.9:80', loadFactor: 0.5, connectTimeout: '2s' },
].map((c) => JSON.stringify(c));
