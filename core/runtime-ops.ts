/**
 * The operations of the admin API that change the served config: each checks its input
 * against the config being served and returns the new set of runtime changes (never
 * touching the old one), or throws a `ChangeError` saying what is wrong and with which
 * field. Applying the result is the balancer's job (`Balancer.applyChanges`).
 */
import { resolveNodeConfig } from './config-validate.ts';
import { catalogOf, NO_PLUGIN_FIELDS } from './config-plugin-fields.ts';
import { show } from './config-fields.ts';
import { fileNode, nodeText, splitKey, type RuntimeChanges } from './runtime-changes.ts';
import type { NodeConfig, ResolvedConfig } from './types.ts';

/** `invalid`: bad input (HTTP 400); `unknown`: no such thing (404); `conflict`: not now (409). */
export class ChangeError extends Error {
  constructor(
    readonly kind: 'invalid' | 'unknown' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'ChangeError';
  }
}

/** The served config and the file's, and the changes between them. */
export interface ChangeBase {
  file: ResolvedConfig;
  served: ResolvedConfig;
  changes: RuntimeChanges;
}

const copy = (c: RuntimeChanges): RuntimeChanges => structuredClone(c);

function servedNode(b: ChangeBase, key: string) {
  const [cluster, id] = splitKey(key);
  const c = b.served.clusters[cluster];
  if (!c) throw new ChangeError('unknown', `no cluster ${cluster}`);
  const n = c.nodes.find((o) => o.id === id);
  if (!n) throw new ChangeError('unknown', `no node ${id} in cluster ${cluster}`);
  return { cluster: c, node: n };
}

export function setLoadFactor(b: ChangeBase, key: string, factor: unknown): RuntimeChanges {
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) {
    throw new ChangeError('invalid', `factor: expected a number greater than 0, got ${show(factor)}`);
  }
  servedNode(b, key);
  const next = copy(b.changes);
  const added = next.added[key];
  if (added) {
    added.node.loadFactor = factor;
    return next;
  }
  const inFile = fileNode(b.file, key)!;
  if (factor === inFile.loadFactor) delete next.factors[key];
  else next.factors[key] = { factor, file: inFile.loadFactor };
  return next;
}

export function addNode(b: ChangeBase, clusterName: string, body: unknown): RuntimeChanges {
  const cluster = b.served.clusters[clusterName];
  if (!cluster) throw new ChangeError('unknown', `no cluster ${clusterName}`);
  let node;
  try {
    // The serving plugins' node fields, so that a bad one is the caller's 400, not a failed build.
    node = resolveNodeConfig(body, cluster.connectTimeout, catalogOf(b.served) ?? NO_PLUGIN_FIELDS);
  } catch (err) {
    throw new ChangeError('invalid', (err as Error).message);
  }
  const key = `${clusterName}/${node.id}`;
  if (cluster.nodes.some((n) => n.id === node.id)) throw new ChangeError('conflict', `id: cluster ${clusterName} already has a node ${node.id}`);
  if (node.fallover !== undefined && !cluster.nodes.some((n) => n.id === node.fallover)) {
    throw new ChangeError('invalid', `fallover: no node ${show(node.fallover)} in cluster ${clusterName}`);
  }
  const next = copy(b.changes);
  const inFile = fileNode(b.file, key);
  if (inFile) {
    // The node was taken out at run time: adding it back as the file defines it undoes that.
    if (nodeText(inFile) !== nodeText(node)) {
      throw new ChangeError('conflict', `id: node ${key} is defined in the config file; add it back as the file defines it, or edit the file`);
    }
    delete next.removed[key];
    return next;
  }
  next.added[key] = { cluster: clusterName, node: JSON.parse(JSON.stringify(body)) as NodeConfig };
  return next;
}

export function removeNode(b: ChangeBase, key: string): RuntimeChanges {
  const { cluster, node } = servedNode(b, key);
  if (cluster.nodes.length === 1) throw new ChangeError('conflict', `node ${key} is the last node of cluster ${cluster.name}`);
  const by = cluster.nodes.find((n) => n.fallover === node.id);
  if (by) throw new ChangeError('conflict', `node ${cluster.name}/${by.id} falls over to ${key}; change that first`);
  const next = copy(b.changes);
  if (next.added[key]) delete next.added[key];
  else {
    next.removed[key] = { file: nodeText(fileNode(b.file, key)!) };
    delete next.factors[key];
  }
  return next;
}

export function setRoute(b: ChangeBase, listener: string, cluster: unknown): RuntimeChanges {
  const l = b.file.listeners.find((o) => o.name === listener);
  if (!l) throw new ChangeError('unknown', `no listener ${listener} (listeners: ${b.file.listeners.map((o) => o.name).join(', ')})`);
  if (typeof cluster !== 'string' || cluster === '') throw new ChangeError('invalid', `cluster: expected a cluster name, got ${show(cluster)}`);
  if (!b.served.clusters[cluster]) throw new ChangeError('unknown', `no cluster ${cluster} (clusters: ${Object.keys(b.served.clusters).join(', ')})`);
  const next = copy(b.changes);
  if (cluster === l.cluster) delete next.routes[listener];
  else next.routes[listener] = { cluster, file: l.cluster };
  return next;
}
