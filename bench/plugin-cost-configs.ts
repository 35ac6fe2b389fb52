/**
 * The configurations of the plugins part (bench/plugin-cost.ts): the same balancer (one
 * listener, one round-robin cluster of two nodes, `workers: 1`, log silent, admin off) with
 * none of the built-in plugins' fields (the baseline, and its twin in another process),
 * each plugin's fields alone, and all four together. Each entry says what the load client sends first (a PROXY header or
 * nothing) and whether the nodes must read a header, so that one load generator and one
 * pair of backends serve every configuration the same way.
 */
import path from 'node:path';

/** What the load client writes before its request. */
export type ClientHeader = 'none' | 'v1' | 'v2';

export interface PluginConfig {
  key: string;
  /** The table's label. */
  label: string;
  /** The fields set, as written in the config (for the table). */
  fields: string;
  header: ClientHeader;
  /** The nodes get a PROXY header from the balancer (the backend counts them). */
  nodesReadHeader: boolean;
  listener: Record<string, unknown>;
  cluster: Record<string, unknown>;
  /** Fields of every node. */
  node: Record<string, unknown>;
}

/** Never reached at these rates: the fields are on, nobody is refused. */
const LIMIT = 10_000;
/** The largest clientRate.connections the plugin takes (its MAX_PER_WINDOW), per 1 s window. */
const RATE = 65_535;

const ACCESS = { allow: ['127.0.0.0/8', '::1'], deny: ['127.0.0.99', '127.1.0.0/16', '192.0.2.0/24', '2001:db8::/32'] };
const LIMITS_LISTENER = { maxConnections: LIMIT, clientRate: { connections: RATE, per: '1s' } };
const LIMITS_CLUSTER = { queue: { size: 100, timeout: '5s' } };
const LIMITS_NODE = { maxConnections: LIMIT };

export const PLUGIN_CONFIGS: readonly PluginConfig[] = [
  { key: 'baseline', label: 'baseline (none of the fields)', fields: '—', header: 'none', nodesReadHeader: false, listener: {}, cluster: {}, node: {} },
  // The baseline's config in a process of its own, measured as the others are: how far from 1 position and noise put a configuration that costs nothing.
  { key: 'twin', label: 'baseline again, a second process (the floor)', fields: '—', header: 'none', nodesReadHeader: false, listener: {}, cluster: {}, node: {} },
  {
    key: 'access',
    label: 'access control',
    fields: "`allow: ['127.0.0.0/8', '::1']`, `deny:` 4 networks",
    header: 'none',
    nodesReadHeader: false,
    listener: ACCESS,
    cluster: {},
    node: {},
  },
  {
    key: 'limits',
    label: 'connection limits',
    fields: `node \`maxConnections: ${LIMIT}\`, \`queue: { size: 100, timeout: '5s' }\`, listener \`maxConnections: ${LIMIT}\`, \`clientRate: { connections: ${RATE}, per: '1s' }\``,
    header: 'none',
    nodesReadHeader: false,
    listener: LIMITS_LISTENER,
    cluster: LIMITS_CLUSTER,
    node: LIMITS_NODE,
  },
  { key: 'slow', label: 'slow start', fields: "`slowStart: '30s'` (nodes steady)", header: 'none', nodesReadHeader: false, listener: {}, cluster: { slowStart: '30s' }, node: {} },
  {
    key: 'pp-in-v1',
    label: 'PROXY protocol from a balancer in front, v1',
    fields: "`acceptProxyProtocol: 'v1'`",
    header: 'v1',
    nodesReadHeader: false,
    listener: { acceptProxyProtocol: 'v1' },
    cluster: {},
    node: {},
  },
  {
    key: 'pp-in-v2',
    label: 'PROXY protocol from a balancer in front, v2',
    fields: "`acceptProxyProtocol: 'v2'`",
    header: 'v2',
    nodesReadHeader: false,
    listener: { acceptProxyProtocol: 'v2' },
    cluster: {},
    node: {},
  },
  {
    key: 'pp-out-v2',
    label: 'PROXY protocol toward nodes, v2',
    fields: "`proxyProtocol: 'v2'`",
    header: 'none',
    nodesReadHeader: true,
    listener: {},
    cluster: { proxyProtocol: 'v2' },
    node: {},
  },
  {
    key: 'all',
    label: 'all four together',
    fields: "the above, with `acceptProxyProtocol: 'v2'`, `proxyProtocol: 'v2'` and `10.0.0.0/8` allowed too (the clients the headers name)",
    header: 'v2',
    nodesReadHeader: true,
    listener: { ...ACCESS, allow: [...ACCESS.allow, '10.0.0.0/8'], ...LIMITS_LISTENER, acceptProxyProtocol: 'v2' },
    cluster: { ...LIMITS_CLUSTER, slowStart: '30s', proxyProtocol: 'v2' },
    node: LIMITS_NODE,
  },
];

/** The config file of one configuration: `port` for the listener, the nodes at `nodes` (host:port). */
export function configText(c: PluginConfig, dir: string, port: number, nodes: readonly string[]): string {
  const config = {
    listeners: [{ name: 'front', host: '127.0.0.1', port, cluster: 'web', ...c.listener }],
    clusters: {
      web: {
        balance: 'round-robin',
        ...c.cluster,
        nodes: nodes.map((address, i) => ({ id: `n${i + 1}`, address, ...c.node })),
      },
    },
    workers: 1,
    admin: false,
    stateDir: path.join(dir, 'state'),
    log: { level: 'silent' },
  };
  return `// written by bench/plugin-cost-configs.ts (${c.label})\nexport default ${JSON.stringify(config, null, 2)};\n`;
}
