/**
 * Runtime changes over the file config (core/runtime-changes.ts) and the operations that
 * make them (core/runtime-ops.ts). The rule under test: a change remembers what the file
 * said about the same thing when it was made; it holds while the file still says that,
 * and once the file says something else the file wins and the change is dropped.
 * Pure functions: no sockets.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig } from '../../core/config-validate.ts';
import {
  applyRuntimeChanges,
  loadRuntimeChanges,
  nodeText,
  noChanges,
  saveRuntimeChanges,
  type RuntimeChanges,
} from '../../core/runtime-changes.ts';
import { addNode, ChangeError, removeNode, setLoadFactor, setRoute, type ChangeBase } from '../../core/runtime-ops.ts';
import type { ResolvedConfig, ResolvedNode } from '../../core/types.ts';
import { tmpDir } from '../helpers/tmp.ts';

type Raw = {
  listeners: { name: string; port: number; host?: string; cluster: string }[];
  clusters: Record<string, { connectTimeout?: string; nodes: Record<string, unknown>[] }>;
  [k: string]: unknown;
};

/** The config file as the user wrote it; `edit` changes it before validation. */
function fileConfig(edit: (raw: Raw) => void = () => {}): ResolvedConfig {
  const raw: Raw = {
    listeners: [
      { name: 'front', port: 8080, host: '127.0.0.1', cluster: 'web' },
      { name: 'back', port: 8081, host: '127.0.0.1', cluster: 'web' },
    ],
    clusters: {
      web: {
        connectTimeout: '3s',
        nodes: [
          { id: 'a', address: '10.0.0.1:80', loadFactor: 2 },
          { id: 'b', address: '10.0.0.2:80', fallover: 'c' },
          { id: 'c', address: '10.0.0.3:80' },
        ],
      },
      other: { nodes: [{ id: 'x', address: '10.0.1.1:80' }] },
      solo: { nodes: [{ id: 's', address: '10.0.2.1:80' }] },
    },
    workers: 1,
    watch: false,
  };
  edit(raw);
  return validateConfig(raw);
}

const nodeOf = (raw: Raw, cluster: string, id: string) => raw.clusters[cluster]!.nodes.find((n) => n.id === id)!;

/** What runtime-ops needs: the file, the served config and the changes in force. */
function base(file: ResolvedConfig, changes: RuntimeChanges = noChanges()): ChangeBase {
  return { file, served: applyRuntimeChanges(file, changes).config, changes };
}

function served(config: ResolvedConfig, cluster: string, id: string): ResolvedNode | undefined {
  return config.clusters[cluster]?.nodes.find((n) => n.id === id);
}

const ids = (config: ResolvedConfig, cluster: string) => config.clusters[cluster]!.nodes.map((n) => n.id);

/** `fn` throws a ChangeError of `kind` whose message matches `message`. */
function changeError(fn: () => unknown, kind: ChangeError['kind'], message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ChangeError, `expected a ChangeError, got ${String(caught)}`);
  assert.is(caught.kind, kind, `kind of: ${caught.message}`);
  assert.match(caught.message, message);
}

// ─── load factors ───────────────────────────────────────────────────────────

const factor = suite('runtime changes: load factor');

factor('set: served with the factor, kept, remembering the file factor; the old changes untouched', () => {
  const file = fileConfig();
  const before = noChanges();
  const changes = setLoadFactor(base(file, before), 'web/a', 5);
  assert.equal(before, noChanges(), 'the given changes are not modified');
  assert.equal(changes.factors, { 'web/a': { factor: 5, file: 2 } });
  const r = applyRuntimeChanges(file, changes);
  assert.is(served(r.config, 'web', 'a')!.loadFactor, 5);
  assert.is(served(r.config, 'web', 'b')!.loadFactor, 1, 'other nodes keep theirs');
  assert.equal(r.kept, changes);
  assert.equal(r.dropped, []);
});

factor("the file edits that node's factor: dropped, the file's factor serves", () => {
  const changes = setLoadFactor(base(fileConfig()), 'web/a', 5);
  const edited = fileConfig((raw) => (nodeOf(raw, 'web', 'a').loadFactor = 3));
  const r = applyRuntimeChanges(edited, changes);
  assert.is(served(r.config, 'web', 'a')!.loadFactor, 3);
  assert.equal(r.kept.factors, {});
  assert.is(r.dropped.length, 1);
  assert.match(r.dropped[0]!, 'web/a');
});

factor('the file edits another node, the same node otherwise, or something unrelated: kept', () => {
  const changes = setLoadFactor(base(fileConfig()), 'web/a', 5);
  const edits: ((raw: Raw) => void)[] = [
    (raw) => (nodeOf(raw, 'web', 'b').loadFactor = 7),
    (raw) => (nodeOf(raw, 'web', 'a').address = '10.9.9.9:81'),
    (raw) => (raw.connectTimeout = '5s'),
    (raw) => (raw.clusters.extra = { nodes: [{ id: 'e', address: '10.0.3.1:80' }] }),
  ];
  for (const edit of edits) {
    const r = applyRuntimeChanges(fileConfig(edit), changes);
    assert.is(served(r.config, 'web', 'a')!.loadFactor, 5, String(edit));
    assert.equal(r.kept.factors, changes.factors, String(edit));
    assert.equal(r.dropped, [], String(edit));
  }
});

factor("back to the file's value: the change is gone", () => {
  const file = fileConfig();
  const set = setLoadFactor(base(file), 'web/a', 5);
  const back = setLoadFactor(base(file, set), 'web/a', 2);
  assert.equal(back.factors, {});
  assert.is(served(applyRuntimeChanges(file, back).config, 'web', 'a')!.loadFactor, 2);
});

factor('on an added node: the addition itself changes, no factor entry', () => {
  const file = fileConfig();
  const added = addNode(base(file), 'web', { id: 'd', address: '10.0.0.4:80' });
  const changes = setLoadFactor(base(file, added), 'web/d', 4);
  assert.equal(changes.factors, {});
  assert.is(changes.added['web/d']!.node.loadFactor, 4);
  assert.is(added.added['web/d']!.node.loadFactor, undefined, 'the old changes untouched');
  assert.is(served(applyRuntimeChanges(file, changes).config, 'web', 'd')!.loadFactor, 4);
});

factor('a bad factor is invalid, naming the field', () => {
  const b = base(fileConfig());
  for (const bad of [0, -1, 'x', undefined, null, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
    changeError(() => setLoadFactor(b, 'web/a', bad), 'invalid', /^factor: /);
  }
});

factor('an unknown node or cluster, or a removed node: unknown', () => {
  const file = fileConfig();
  changeError(() => setLoadFactor(base(file), 'web/zz', 2), 'unknown', /zz/);
  changeError(() => setLoadFactor(base(file), 'nope/a', 2), 'unknown', /nope/);
  const removed = removeNode(base(file), 'web/a');
  changeError(() => setLoadFactor(base(file, removed), 'web/a', 2), 'unknown', /\ba\b/);
});

// ─── added nodes ────────────────────────────────────────────────────────────

const add = suite('runtime changes: add a node');

add('a valid body: served in its cluster, resolved; kept as given', () => {
  const file = fileConfig();
  const body = { id: 'd', address: '10.0.0.4:8080', loadFactor: 3, fallover: 'a' };
  const changes = addNode(base(file), 'web', body);
  assert.equal(changes.added, { 'web/d': { cluster: 'web', node: body } });
  const r = applyRuntimeChanges(file, changes);
  assert.equal(ids(r.config, 'web'), ['a', 'b', 'c', 'd']);
  const d = served(r.config, 'web', 'd')!;
  assert.equal([d.host, d.port, d.loadFactor, d.fallover, d.connectTimeout], ['10.0.0.4', 8080, 3, 'a', 3000]);
  assert.equal(r.kept, changes);
  assert.equal(r.dropped, []);
  const plain = applyRuntimeChanges(file, addNode(base(file), 'other', { id: 'y', address: '10.0.1.2:81' }));
  assert.is(served(plain.config, 'other', 'y')!.loadFactor, 1, 'the default factor');
  assert.is(served(plain.config, 'other', 'y')!.connectTimeout, file.connectTimeout, "the cluster's timeout");
});

add("the file later defines the same node: the addition is dropped, the file's serves", () => {
  const changes = addNode(base(fileConfig()), 'web', { id: 'd', address: '10.0.0.4:80' });
  const file = fileConfig((raw) => raw.clusters.web!.nodes.push({ id: 'd', address: '10.0.0.99:90' }));
  const r = applyRuntimeChanges(file, changes);
  assert.equal(ids(r.config, 'web'), ['a', 'b', 'c', 'd']);
  assert.is(served(r.config, 'web', 'd')!.host, '10.0.0.99');
  assert.equal(r.kept.added, {});
  assert.is(r.dropped.length, 1);
  assert.match(r.dropped[0]!, 'web/d');
});

add('the file takes away its cluster or its fall-over node: dropped', () => {
  const changes = addNode(base(fileConfig()), 'web', { id: 'd', address: '10.0.0.4:80', fallover: 'a' });
  const noCluster = applyRuntimeChanges(fileConfig((raw) => (raw.listeners.forEach((l) => (l.cluster = 'other')), delete raw.clusters.web)), changes);
  assert.equal(noCluster.kept.added, {});
  assert.is(noCluster.dropped.length, 1);
  const noA = fileConfig((raw) => raw.clusters.web!.nodes.splice(0, 1));
  const r = applyRuntimeChanges(noA, changes);
  assert.equal(ids(r.config, 'web'), ['b', 'c']);
  assert.equal(r.kept.added, {});
  assert.is(r.dropped.length, 1);
  assert.match(r.dropped[0]!, 'web/d');
});

add('a duplicate id: conflict (a file node or an added one)', () => {
  const file = fileConfig();
  changeError(() => addNode(base(file), 'web', { id: 'a', address: '10.0.0.4:80' }), 'conflict', /^id: /);
  const added = addNode(base(file), 'web', { id: 'd', address: '10.0.0.4:80' });
  changeError(() => addNode(base(file, added), 'web', { id: 'd', address: '10.0.0.5:80' }), 'conflict', /^id: /);
});

add('bad input: invalid, naming the field', () => {
  const b = base(fileConfig());
  changeError(() => addNode(b, 'web', { id: 'd', address: 'no pe' }), 'invalid', /address/);
  changeError(() => addNode(b, 'web', { id: 'd', address: '10.0.0.4:' }), 'invalid', /address/);
  changeError(() => addNode(b, 'web', { id: 'd' }), 'invalid', /address/);
  changeError(() => addNode(b, 'web', { id: 'd', address: '10.0.0.4:80', weight: 2 }), 'invalid', /weight/);
  changeError(() => addNode(b, 'web', { id: 'd', address: '10.0.0.4:80', loadFactor: 0 }), 'invalid', /loadFactor/);
  changeError(() => addNode(b, 'web', { id: 'no spaces', address: '10.0.0.4:80' }), 'invalid', /id/);
  changeError(() => addNode(b, 'web', { id: 'd', address: '10.0.0.4:80', fallover: 'zz' }), 'invalid', /^fallover: .*zz/);
  changeError(() => addNode(b, 'web', { id: 'd', address: '10.0.0.4:80', fallover: 'x' }), 'invalid', /^fallover: /);
  changeError(() => addNode(b, 'web', 'a string'), 'invalid', /./);
});

add('a host alone is a node too (the port the client dialled)', () => {
  const added = addNode(base(fileConfig()), 'web', { id: 'd', address: '10.0.0.4' });
  assert.ok(added.added['web/d'], JSON.stringify(added));
});

add('an unknown cluster: unknown', () => {
  changeError(() => addNode(base(fileConfig()), 'nope', { id: 'd', address: '10.0.0.4:80' }), 'unknown', /nope/);
});

add("a file node removed at run time, added back: as the file defines it undoes the removal, else conflict", () => {
  const file = fileConfig();
  const removed = removeNode(base(file), 'web/a');
  const back = addNode(base(file, removed), 'web', { id: 'a', address: '10.0.0.1:80', loadFactor: 2 });
  assert.equal(back, noChanges());
  assert.equal(applyRuntimeChanges(file, back).config, file);
  changeError(() => addNode(base(file, removed), 'web', { id: 'a', address: '10.0.0.1:80', loadFactor: 3 }), 'conflict', /^id: /);
  changeError(() => addNode(base(file, removed), 'web', { id: 'a', address: '10.0.0.1:80' }), 'conflict', /^id: /);
});

add('a body that is not an object is invalid', () => {
  changeError(() => addNode(base(fileConfig()), 'web', null), 'invalid', /./);
});

// ─── removed nodes ──────────────────────────────────────────────────────────

const remove = suite('runtime changes: remove a node');

remove('removed from the served config; the removal remembers the file definition', () => {
  const file = fileConfig();
  const changes = removeNode(base(file), 'web/a');
  assert.equal(changes.removed, { 'web/a': { file: nodeText(served(file, 'web', 'a')!) } });
  const r = applyRuntimeChanges(file, changes);
  assert.equal(ids(r.config, 'web'), ['b', 'c']);
  assert.equal(r.kept, changes);
  assert.equal(r.dropped, []);
});

remove('the file edits that node: the removal is dropped; edits elsewhere keep it', () => {
  const changes = removeNode(base(fileConfig()), 'web/a');
  const edited = applyRuntimeChanges(fileConfig((raw) => (nodeOf(raw, 'web', 'a').address = '10.0.0.9:80')), changes);
  assert.equal(ids(edited.config, 'web'), ['a', 'b', 'c']);
  assert.is(served(edited.config, 'web', 'a')!.host, '10.0.0.9');
  assert.equal(edited.kept.removed, {});
  assert.is(edited.dropped.length, 1);
  assert.match(edited.dropped[0]!, 'web/a');
  const factorEdit = applyRuntimeChanges(fileConfig((raw) => (nodeOf(raw, 'web', 'a').loadFactor = 4)), changes);
  assert.equal(ids(factorEdit.config, 'web'), ['a', 'b', 'c']);
  const gone = applyRuntimeChanges(fileConfig((raw) => raw.clusters.web!.nodes.splice(0, 1)), changes);
  assert.equal(gone.kept.removed, {}, 'the file took it out: nothing left to remove');
  assert.equal(ids(gone.config, 'web'), ['b', 'c']);
  const elsewhere = applyRuntimeChanges(fileConfig((raw) => (nodeOf(raw, 'web', 'c').address = '10.0.0.8:80')), changes);
  assert.equal(ids(elsewhere.config, 'web'), ['b', 'c']);
  assert.equal(elsewhere.kept.removed, changes.removed);
  assert.equal(elsewhere.dropped, []);
});

remove("the file later makes another node fall over to it, or leaves it alone in the cluster: dropped", () => {
  const changes = removeNode(base(fileConfig()), 'web/a');
  const r = applyRuntimeChanges(fileConfig((raw) => (nodeOf(raw, 'web', 'c').fallover = 'a')), changes);
  assert.equal(ids(r.config, 'web'), ['a', 'b', 'c']);
  assert.equal(r.kept.removed, {});
  assert.is(r.dropped.length, 1);
  assert.match(r.dropped[0]!, 'web/a');
  const alone = applyRuntimeChanges(fileConfig((raw) => raw.clusters.web!.nodes.splice(1, 2)), changes);
  assert.equal(ids(alone.config, 'web'), ['a']);
  assert.equal(alone.kept.removed, {});
  assert.is(alone.dropped.length, 1);
});

remove('an edit of a connect timeout the removed node only inherits (top level, cluster) keeps the removal', () => {
  // The file did not edit the node: the timeout it inherits changed. The header rule drops a
  // removal when "the removed node is edited or taken out", and an edit of something else
  // keeps a change (as it does for load factors).
  const inherits = (edit: (raw: Raw) => void = () => {}) =>
    fileConfig((raw) => {
      delete raw.clusters.web!.connectTimeout;
      edit(raw);
    });
  const changes = removeNode(base(inherits()), 'web/a');
  for (const edit of [(raw: Raw) => (raw.connectTimeout = '7s'), (raw: Raw) => (raw.clusters.web!.connectTimeout = '7s')]) {
    const r = applyRuntimeChanges(inherits(edit), changes);
    assert.equal(r.dropped, [], String(edit));
    assert.equal(ids(r.config, 'web'), ['b', 'c'], String(edit));
  }
});

remove('the last node of a cluster, or a node another falls over to: conflict', () => {
  const file = fileConfig();
  changeError(() => removeNode(base(file), 'solo/s'), 'conflict', /last/);
  changeError(() => removeNode(base(file), 'web/c'), 'conflict', /web\/b/);
  const noA = removeNode(base(file), 'web/a');
  const noB = removeNode(base(file, noA), 'web/b');
  assert.equal(ids(applyRuntimeChanges(file, noB).config, 'web'), ['c']);
  changeError(() => removeNode(base(file, noB), 'web/c'), 'conflict', /last/);
  const added = addNode(base(file), 'web', { id: 'd', address: '10.0.0.4:80', fallover: 'a' });
  changeError(() => removeNode(base(file, added), 'web/a'), 'conflict', /web\/d/);
});

remove('an added node: the addition is deleted; a file node: its factor change goes with it', () => {
  const file = fileConfig();
  const added = addNode(base(file), 'web', { id: 'd', address: '10.0.0.4:80' });
  const gone = removeNode(base(file, added), 'web/d');
  assert.equal(gone, noChanges());
  assert.equal(ids(applyRuntimeChanges(file, gone).config, 'web'), ['a', 'b', 'c']);
  const factored = setLoadFactor(base(file), 'web/a', 9);
  const removed = removeNode(base(file, factored), 'web/a');
  assert.equal(removed.factors, {});
  assert.equal(Object.keys(removed.removed), ['web/a']);
});

remove('an unknown node or cluster: unknown', () => {
  changeError(() => removeNode(base(fileConfig()), 'web/zz'), 'unknown', /zz/);
  changeError(() => removeNode(base(fileConfig()), 'nope/a'), 'unknown', /nope/);
});

// ─── routes ─────────────────────────────────────────────────────────────────

const route = suite('runtime changes: route a listener');

const clusterOf = (config: ResolvedConfig, listener: string) => config.listeners.find((l) => l.name === listener)?.cluster;

route('set: the listener serves the new cluster, the others keep theirs', () => {
  const file = fileConfig();
  const changes = setRoute(base(file), 'front', 'other');
  assert.equal(changes.routes, { front: { cluster: 'other', file: 'web' } });
  const r = applyRuntimeChanges(file, changes);
  assert.is(clusterOf(r.config, 'front'), 'other');
  assert.is(clusterOf(r.config, 'back'), 'web');
  assert.equal(r.kept.routes, changes.routes);
  assert.equal(r.dropped, []);
});

route('the file points the listener elsewhere, or removes the cluster: dropped', () => {
  const changes = setRoute(base(fileConfig()), 'front', 'other');
  const elsewhere = applyRuntimeChanges(fileConfig((raw) => (raw.listeners[0]!.cluster = 'solo')), changes);
  assert.is(clusterOf(elsewhere.config, 'front'), 'solo');
  assert.equal(elsewhere.kept.routes, {});
  assert.is(elsewhere.dropped.length, 1);
  assert.match(elsewhere.dropped[0]!, 'front');
  const noCluster = applyRuntimeChanges(fileConfig((raw) => delete raw.clusters.other), changes);
  assert.is(clusterOf(noCluster.config, 'front'), 'web');
  assert.equal(noCluster.kept.routes, {});
  assert.is(noCluster.dropped.length, 1);
  const unrelated = applyRuntimeChanges(fileConfig((raw) => (raw.listeners[1]!.cluster = 'solo')), changes);
  assert.is(clusterOf(unrelated.config, 'front'), 'other', 'an edit of another listener keeps it');
  assert.equal(unrelated.dropped, []);
});

route("back to the file's cluster: the change is gone", () => {
  const file = fileConfig();
  const set = setRoute(base(file), 'front', 'other');
  const back = setRoute(base(file, set), 'front', 'web');
  assert.equal(back.routes, {});
  assert.is(clusterOf(applyRuntimeChanges(file, back).config, 'front'), 'web');
});

route('unknown listener or cluster: unknown; a cluster that is not a name: invalid', () => {
  const b = base(fileConfig());
  changeError(() => setRoute(b, 'nope', 'other'), 'unknown', /nope/);
  changeError(() => setRoute(b, 'front', 'nope'), 'unknown', /nope/);
  for (const bad of [5, '', undefined, null, ['other']]) changeError(() => setRoute(b, 'front', bad), 'invalid', /^cluster: /);
});

// ─── state file, purity ─────────────────────────────────────────────────────

const io = suite('runtime changes: the state file, and purity');

/** One change of every kind, made through the operations. */
function everyKind(file: ResolvedConfig): RuntimeChanges {
  let c = setLoadFactor(base(file), 'web/b', 6);
  c = addNode(base(file, c), 'web', { id: 'd', address: '10.0.0.4:80', fallover: 'b' });
  c = removeNode(base(file, c), 'web/a');
  return setRoute(base(file, c), 'back', 'other');
}

io('save then load: the same changes', () => {
  const dir = tmpDir();
  const changes = everyKind(fileConfig());
  assert.is(Object.values(changes).filter((m) => Object.keys(m).length === 1).length, 4, 'one of each kind');
  const applied = applyRuntimeChanges(fileConfig(), changes);
  assert.equal([applied.kept, applied.dropped], [changes, []], 'what the operations make applies cleanly');
  saveRuntimeChanges(dir, changes);
  assert.equal(JSON.parse(readFileSync(path.join(dir, 'runtime-changes.json'), 'utf8')), changes);
  assert.equal(loadRuntimeChanges(dir), changes);
  saveRuntimeChanges(dir, noChanges());
  assert.equal(loadRuntimeChanges(dir), noChanges(), 'a later save replaces the file');
  const nested = path.join(tmpDir(), 'not', 'made', 'yet');
  saveRuntimeChanges(nested, changes);
  assert.equal(loadRuntimeChanges(nested), changes, 'the state directory is made when missing');
});

io('a missing or corrupt file loads as no changes; stray parts are ignored', () => {
  assert.equal(loadRuntimeChanges(path.join(tmpDir(), 'not-there')), noChanges());
  for (const text of ['{ not json', '', 'null', '[1, 2]', '"text"', '{"factors": [1], "routes": 5}']) {
    const dir = tmpDir({ 'runtime-changes.json': text });
    assert.equal(loadRuntimeChanges(dir), noChanges(), JSON.stringify(text));
  }
  const partial = tmpDir({ 'runtime-changes.json': '{"routes": {"front": {"cluster": "other", "file": "web"}}}' });
  assert.equal(loadRuntimeChanges(partial), { ...noChanges(), routes: { front: { cluster: 'other', file: 'web' } } });
  const dir = tmpDir();
  saveRuntimeChanges(dir, everyKind(fileConfig()));
  writeFileSync(path.join(dir, 'runtime-changes.json'), '{"factors": {"web/b"');
  assert.equal(loadRuntimeChanges(dir), noChanges(), 'a torn file');
});

io('a state file with entries of the wrong shape: nothing thrown, nothing odd served, the entries dropped', () => {
  const file = fileConfig();
  const texts = [
    '{"factors": {"web/a": null}}',
    '{"routes": {"front": null}}',
    '{"added": {"web/d": null}}',
    '{"removed": {"web/a": null}}',
    '{"factors": {"web/a": 5}}',
    '{"factors": {"web/a": {"factor": "big", "file": 2}}}',
    '{"factors": {"web/a": {"factor": -3, "file": 2}}}',
    '{"factors": {"web/a": {"factor": 0, "file": 2}}}',
    '{"added": {"web/d": {"cluster": "web"}}}',
    '{"removed": {"web/a": 7}}',
    '{"routes": {"front": {"cluster": 5, "file": "web"}}}',
  ];
  const failures: string[] = [];
  for (const text of texts) {
    try {
      const r = applyRuntimeChanges(file, loadRuntimeChanges(tmpDir({ 'runtime-changes.json': text })));
      const a = served(r.config, 'web', 'a');
      if (JSON.stringify(r.kept) !== JSON.stringify(noChanges())) failures.push(`${text}: kept ${JSON.stringify(r.kept)}`);
      else if (a?.loadFactor !== 2) failures.push(`${text}: node web/a served with loadFactor ${JSON.stringify(a?.loadFactor)}`);
      else if (clusterOf(r.config, 'front') !== 'web') failures.push(`${text}: front routed to ${clusterOf(r.config, 'front')}`);
    } catch (err) {
      failures.push(`${text}: threw ${String(err)}`);
    }
  }
  assert.equal(failures, []);
});

io('applyRuntimeChanges never modifies the file config or the changes', () => {
  const editedFiles = [
    fileConfig(),
    fileConfig((raw) => (nodeOf(raw, 'web', 'b').loadFactor = 3)),
    fileConfig((raw) => (nodeOf(raw, 'web', 'c').fallover = 'a')),
    fileConfig((raw) => (raw.listeners[1]!.cluster = 'solo')),
  ];
  const changes = everyKind(fileConfig());
  for (const file of editedFiles) {
    const fileBefore = structuredClone(file);
    const changesBefore = structuredClone(changes);
    const r = applyRuntimeChanges(file, changes);
    assert.equal(file, fileBefore);
    assert.equal(changes, changesBefore);
    // Later use of the served config must not reach the file's either.
    for (const c of Object.values(r.config.clusters)) for (const n of c.nodes) n.loadFactor = 99;
    for (const l of r.config.listeners) l.cluster = 'zz';
    assert.equal(file, fileBefore, 'the served config shares no node or listener with the file');
  }
});

io('nodeText: equal for the same definition, different when the file changes the node', () => {
  const a = served(fileConfig(), 'web', 'a')!;
  assert.is(nodeText(a), nodeText(served(fileConfig(), 'web', 'a')!));
  assert.is.not(nodeText(a), nodeText(served(fileConfig((raw) => (nodeOf(raw, 'web', 'a').loadFactor = 3)), 'web', 'a')!));
  assert.is.not(nodeText(a), nodeText(served(fileConfig((raw) => (nodeOf(raw, 'web', 'a').address = '10.9.9.9:80')), 'web', 'a')!));
  // The connect timeout is mostly inherited: a new one is no edit of the node.
  assert.is(nodeText(a), nodeText(served(fileConfig((raw) => (nodeOf(raw, 'web', 'a').connectTimeout = '1s')), 'web', 'a')!));
});

factor.run();
add.run();
remove.run();
route.run();
io.run();
