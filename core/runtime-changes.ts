/**
 * Changes operators make through the admin API — load factors, added and removed nodes,
 * listener routes — sit on top of the config file and outlive restarts in
 * `<stateDir>/runtime-changes.json`.
 *
 * The rule: each change remembers what the file said about the same thing when it was
 * made. It holds (across reloads and restarts) for as long as the file still says that;
 * once the file says something else about it — the node's factor is edited, the listener
 * is pointed elsewhere, the added node appears in the file, the removed node is edited or
 * taken out — the file wins and the change is dropped (and logged). Node states are kept
 * apart (core/node-states.ts): the file has no state field.
 */
import path from 'node:path';
import { resolveNodeConfig } from './config-validate.ts';
import { readJsonFile, writeJsonFile } from './json-file.ts';
import type { NodeConfig, ResolvedCluster, ResolvedConfig, ResolvedNode } from './types.ts';

const FILE = 'runtime-changes.json';

export interface RuntimeChanges {
  /** Load factor by node key (`cluster/id`), for nodes of the file; `file` is the file's factor then. */
  factors: Record<string, { factor: number; file: number }>;
  /** Cluster by listener name; `file` is the file's cluster then. */
  routes: Record<string, { cluster: string; file: string }>;
  /** Nodes the file does not have, by key, as the API was given them. */
  added: Record<string, { cluster: string; node: NodeConfig }>;
  /** Nodes of the file taken out, by key; `file` is the file's definition then. */
  removed: Record<string, { file: string }>;
}

export interface AppliedChanges {
  config: ResolvedConfig;
  /** The changes still in force. */
  kept: RuntimeChanges;
  /** Why each dropped change was dropped, for the log. */
  dropped: string[];
}

export const noChanges = (): RuntimeChanges => ({ factors: {}, routes: {}, added: {}, removed: {} });

/**
 * A node's file definition as text: two texts differ exactly when the file changed the
 * node's address, load factor, fall-over or probe. The connect timeout is left out: it is
 * mostly inherited, and a new default timeout is no edit of the node.
 */
export function nodeText(node: ResolvedNode): string {
  const { id, host, port, loadFactor, fallover, probe } = node;
  return JSON.stringify({ id, host, port, loadFactor, fallover, probe });
}

export function splitKey(key: string): [cluster: string, id: string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

export function fileNode(config: ResolvedConfig, key: string): ResolvedNode | undefined {
  const [cluster, id] = splitKey(key);
  return config.clusters[cluster]?.nodes.find((n) => n.id === id);
}

/** The config the balancer serves: the file's, with the changes still in force applied. */
export function applyRuntimeChanges(file: ResolvedConfig, changes: RuntimeChanges): AppliedChanges {
  const kept = noChanges();
  const dropped: string[] = [];
  const clusters: Record<string, ResolvedCluster> = {};
  for (const [name, c] of Object.entries(file.clusters)) clusters[name] = { ...c, nodes: c.nodes.map((n) => ({ ...n })) };

  const adds = new Map<string, ResolvedNode>();
  for (const [key, a] of Object.entries(changes.added)) {
    const cluster = file.clusters[a.cluster];
    if (!cluster) dropped.push(`added node ${key}: the config file has no cluster ${a.cluster} any more`);
    else if (fileNode(file, key)) dropped.push(`added node ${key}: the config file now defines that node`);
    else {
      try {
        adds.set(key, resolveNodeConfig(a.node, cluster.connectTimeout));
        kept.added[key] = a;
      } catch (err) {
        dropped.push(`added node ${key}: ${(err as Error).message}`);
      }
    }
  }
  const removals = new Set<string>();
  for (const [key, r] of Object.entries(changes.removed)) {
    const n = fileNode(file, key);
    if (!n || nodeText(n) !== r.file) dropped.push(`removal of node ${key}: the config file changed that node`);
    else removals.add(key);
  }

  // A removal holds only while no node left falls over to it, and never empties a
  // cluster; an added node only while its fall-over exists. Settled until nothing moves.
  const present = (cluster: string): ResolvedNode[] => [
    ...clusters[cluster]!.nodes.filter((n) => !removals.has(`${cluster}/${n.id}`)),
    ...[...adds].filter(([k]) => splitKey(k)[0] === cluster).map(([, n]) => n),
  ];
  for (let moved = true; moved; ) {
    moved = false;
    for (const key of removals) {
      const [cluster, id] = splitKey(key);
      const left = present(cluster);
      const by = left.find((n) => n.fallover === id);
      if (by || left.length === 0) {
        removals.delete(key);
        dropped.push(`removal of node ${key}: ${by ? `node ${cluster}/${by.id} falls over to it` : 'it would leave its cluster empty'}`);
        moved = true;
      }
    }
    for (const [key, n] of adds) {
      const [cluster] = splitKey(key);
      if (n.fallover !== undefined && !present(cluster).some((o) => o.id === n.fallover)) {
        adds.delete(key);
        delete kept.added[key];
        dropped.push(`added node ${key}: its fall-over node ${n.fallover} is gone`);
        moved = true;
      }
    }
  }
  for (const key of removals) kept.removed[key] = changes.removed[key]!;
  for (const [name, c] of Object.entries(clusters)) c.nodes = present(name);

  for (const [key, f] of Object.entries(changes.factors)) {
    const n = fileNode(file, key);
    const live = clusters[splitKey(key)[0]]?.nodes.find((o) => o.id === splitKey(key)[1]);
    if (!n || n.loadFactor !== f.file) dropped.push(`load factor ${f.factor} of node ${key}: the config file changed it`);
    else if (!live) dropped.push(`load factor ${f.factor} of node ${key}: the node is removed`);
    else {
      live.loadFactor = f.factor;
      kept.factors[key] = f;
    }
  }

  const listeners = file.listeners.map((l) => ({ ...l }));
  for (const [name, r] of Object.entries(changes.routes)) {
    const l = listeners.find((o) => o.name === name);
    if (!l || l.cluster !== r.file) dropped.push(`route of listener ${name} to cluster ${r.cluster}: the config file changed that listener`);
    else if (!clusters[r.cluster]) dropped.push(`route of listener ${name} to cluster ${r.cluster}: the config file has no such cluster any more`);
    else {
      l.cluster = r.cluster;
      kept.routes[name] = r;
    }
  }
  return { config: { ...file, listeners, clusters }, kept, dropped };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFactor = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The shape each kind of entry must have; the file is ours, but may be hand-edited or torn. */
const ENTRY: { [K in keyof RuntimeChanges]: (v: Record<string, unknown>) => boolean } = {
  factors: (v) => isFactor(v.factor) && isFactor(v.file),
  routes: (v) => isName(v.cluster) && isName(v.file),
  added: (v) => isName(v.cluster) && isRecord(v.node),
  removed: (v) => typeof v.file === 'string',
};

/** The saved changes; entries of the wrong shape are left out (they would serve nonsense). */
export function loadRuntimeChanges(stateDir: string): RuntimeChanges {
  const raw = readJsonFile(path.join(stateDir, FILE));
  const out = noChanges();
  if (!isRecord(raw)) return out;
  for (const k of ['factors', 'routes', 'added', 'removed'] as const) {
    const part = raw[k];
    if (!isRecord(part)) continue;
    for (const [key, entry] of Object.entries(part)) {
      if ((k === 'routes' || key.includes('/')) && isRecord(entry) && ENTRY[k](entry)) (out[k] as Record<string, unknown>)[key] = entry;
    }
  }
  return out;
}

export function saveRuntimeChanges(stateDir: string, changes: RuntimeChanges): void {
  writeJsonFile(path.join(stateDir, FILE), changes);
}
