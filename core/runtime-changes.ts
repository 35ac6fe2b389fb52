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
 *
 * A state file that cannot be read is set aside and the config file serves as written; an
 * entry of the wrong shape is left out. Both are logged (core/json-file.ts).
 */
import { resolveNodeConfig } from './config-validate.ts';
import { preview, readStateFile, StateShapeError, writeStateFile, type ReadOptions, type StateFileKind, type StateLog } from './json-file.ts';
import { isNodeKey } from './node-states.ts';
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
    if (!n) dropped.push(`load factor ${f.factor} of node ${key}: the config file has no such node`);
    else if (n.loadFactor !== f.file) dropped.push(`load factor ${f.factor} of node ${key}: the config file changed it`);
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

/** JSON no deeper than `levels` (a node body is a few levels; deeper would not save back). */
function shallow(v: unknown, levels: number): boolean {
  if (typeof v !== 'object' || v === null) return true;
  return levels > 0 && Object.values(v).every((x) => shallow(x, levels - 1));
}

/**
 * Each kind of entry, checked and copied (known fields only), or why it is left out. The
 * file is ours, but may be hand-edited, torn by a disk, or from another version.
 */
const ENTRY: { [K in keyof RuntimeChanges]: (key: string, v: Record<string, unknown>) => RuntimeChanges[K][string] | string } = {
  factors: (_key, v) => (isFactor(v.factor) && isFactor(v.file) ? { factor: v.factor, file: v.file } : 'factor and file must be numbers above 0'),
  routes: (_key, v) => (isName(v.cluster) && isName(v.file) ? { cluster: v.cluster, file: v.file } : 'cluster and file must be names'),
  added: (key, v) => {
    const [cluster, id] = splitKey(key);
    if (v.cluster !== cluster || !isRecord(v.node) || v.node.id !== id) return `cluster must be ${JSON.stringify(cluster)} and node an object with id ${JSON.stringify(id)}`;
    return shallow(v.node, 8) ? { cluster, node: v.node as unknown as NodeConfig } : 'node nested too deep';
  },
  removed: (_key, v) => (typeof v.file === 'string' ? { file: v.file } : 'file must be a text'),
};

export const RUNTIME_CHANGES_FILE: StateFileKind<RuntimeChanges> = {
  name: FILE,
  lost: 'the runtime changes it held are lost: load factors, added and removed nodes and routes are as the config file says',
  dropped: 'the config file decides those',
  empty: noChanges,
  fromJson(raw, drop) {
    if (!isRecord(raw)) throw new StateShapeError(`expected an object of factors, routes, added, removed; found ${preview(raw, 30)}`);
    const out = noChanges();
    for (const [k, part] of Object.entries(raw)) {
      if (!Object.hasOwn(out, k)) {
        drop(k, 'not a part of this file');
        continue;
      }
      const kind = k as keyof RuntimeChanges;
      if (!isRecord(part)) {
        drop(k, `expected an object, found ${preview(part, 30)}`);
        continue;
      }
      for (const [key, entry] of Object.entries(part)) {
        const name = `${kind} ${key}`;
        if (key === '__proto__') drop(name, 'a reserved name');
        else if (kind === 'routes' ? key === '' : !isNodeKey(key)) drop(name, kind === 'routes' ? 'an empty listener name' : 'not a "cluster/id" key');
        else if (!isRecord(entry)) drop(name, `expected an object, found ${preview(entry, 30)}`);
        else {
          const checked = ENTRY[kind](key, entry);
          if (typeof checked === 'string') drop(name, checked);
          else (out[kind] as Record<string, unknown>)[key] = checked;
        }
      }
    }
    return out;
  },
  toJson: (changes) => changes,
};

/** The saved changes; entries of the wrong shape are left out (they would serve nonsense), a bad file set aside. */
export function loadRuntimeChanges(stateDir: string, log?: StateLog, options?: ReadOptions): RuntimeChanges {
  return readStateFile(stateDir, RUNTIME_CHANGES_FILE, log, options);
}

export function saveRuntimeChanges(stateDir: string, changes: RuntimeChanges): void {
  writeStateFile(stateDir, RUNTIME_CHANGES_FILE, changes);
}
