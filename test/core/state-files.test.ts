/**
 * State files in the state directory (core/json-file.ts, core/node-states.ts,
 * core/runtime-changes.ts): a file that cannot be read is set aside with a warning saying
 * what was lost, a bad entry is left out with a warning naming it, and a write killed at
 * any moment leaves a whole file. Properties over arbitrary input: state-files-fuzz.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addNode, createBalancer, setLoadFactor, type Config } from '../../core/index.ts';
import { readStateFile, type StateFileKind, type StateLog } from '../../core/json-file.ts';
import { loadNodeStates, NODE_STATES_FILE, saveNodeStates } from '../../core/node-states.ts';
import { loadRuntimeChanges, noChanges, RUNTIME_CHANGES_FILE } from '../../core/runtime-changes.ts';
import type { NodeState } from '../../core/types.ts';
import { builtinPlugins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A log that keeps the warnings' messages. */
function warnings(): StateLog & { said: string[] } {
  const said: string[] = [];
  return { said, warn: (_fields, message) => said.push(message) };
}

const corruptFiles = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`${name}.corrupt-`));

// ─── a file that cannot be read ─────────────────────────────────────────────

const unreadable = suite('state files: a file that cannot be read is set aside');

const BAD: [string, string | Buffer][] = [
  ['garbage', 'garbage{'],
  ['a torn file', '{"web/a": "yel'],
  ['an empty file', ''],
  ['null', 'null'],
  ['an array', '[1, 2]'],
  ['a string', '"yellow"'],
  ['not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
];

for (const kind of [NODE_STATES_FILE, RUNTIME_CHANGES_FILE] as StateFileKind<unknown>[]) {
  unreadable(`${kind.name}: each kind of bad file: nothing served from it, renamed aside whole, one warning saying what was lost`, () => {
    for (const [what, content] of BAD) {
      const dir = tmpDir();
      writeFileSync(path.join(dir, kind.name), content);
      const log = warnings();
      const value = readStateFile(dir, kind, log, { now: () => new Date('2026-03-04T05:06:07.089Z') });
      assert.equal(value, kind.empty(), what);
      const aside = `${kind.name}.corrupt-2026-03-04T05-06-07.089Z`;
      assert.equal(readdirSync(dir), [aside], `${what}: the file is renamed, no other file made`);
      assert.equal(readFileSync(path.join(dir, aside)), Buffer.from(content), `${what}: the bytes are kept`);
      assert.is(log.said.length, 1, what);
      const line = log.said[0]!;
      assert.ok(line.startsWith(`${kind.name} could not be read (`), line);
      assert.ok(line.includes(`; set aside as ${aside}; ${kind.lost}`), line);
    }
  });
}

unreadable('the warning names the parser error and what is lost, as the issue asked', () => {
  const dir = tmpDir({ 'node-states.json': 'garbage' });
  const log = warnings();
  loadNodeStates(dir, log);
  assert.match(log.said[0]!, /^node-states\.json could not be read \(Unexpected token .*\); set aside as node-states\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z; the node states it held are lost: nodes start green$/);
  const r = tmpDir({ 'runtime-changes.json': '{"factors": ' });
  loadRuntimeChanges(r, log);
  assert.match(log.said[1]!, /^runtime-changes\.json could not be read .*; the runtime changes it held are lost: load factors, added and removed nodes and routes are as the config file says$/);
});

unreadable('set aside twice in the same millisecond: a second name; a missing file: no state, no warning', () => {
  const dir = tmpDir();
  const now = () => new Date('2026-01-01T00:00:00.000Z');
  for (let i = 0; i < 3; i++) {
    writeFileSync(path.join(dir, 'node-states.json'), `bad ${i}`);
    loadNodeStates(dir, warnings(), { now });
  }
  const base = 'node-states.json.corrupt-2026-01-01T00-00-00.000Z';
  assert.equal(readdirSync(dir).sort(), [base, `${base}-2`, `${base}-3`]);
  assert.is(readFileSync(path.join(dir, `${base}-3`), 'utf8'), 'bad 2');
  const log = warnings();
  assert.equal(loadNodeStates(path.join(tmpDir(), 'not', 'there'), log), new Map());
  assert.equal(loadRuntimeChanges(tmpDir(), log), noChanges());
  assert.equal(log.said, []);
});

unreadable('a worker (setAside false) warns but leaves the file for the primary', () => {
  const dir = tmpDir({ 'node-states.json': '{{' });
  const log = warnings();
  assert.equal(loadNodeStates(dir, log, { setAside: false }), new Map());
  assert.equal(readdirSync(dir), ['node-states.json']);
  assert.match(log.said[0]!, /left in place \(the primary process sets it aside\); the node states it held are lost/);
});

unreadable('a file that is there but cannot be opened (a folder): a warning, no state, nothing moved', () => {
  const dir = tmpDir({ 'node-states.json/inside': 'x' });
  const log = warnings();
  assert.equal(loadNodeStates(dir, log), new Map());
  assert.match(log.said[0]!, /^node-states\.json could not be read \(EISDIR\); it is not used this time: nodes start green$/);
  assert.ok(existsSync(path.join(dir, 'node-states.json', 'inside')));
});

unreadable.run();

// ─── entries of the wrong shape ─────────────────────────────────────────────

const entries = suite('state files: entries of the wrong shape are left out, named, and the file stays');

entries('node states: a bad state or key is named; the good entries are served', () => {
  const text = '{"web/a": "yellow", "web/b": "purple", "nokey": "red", "web/c": 3, "__proto__": "red", "web/d": "red"}';
  const dir = tmpDir({ 'node-states.json': text });
  const log = warnings();
  const states = loadNodeStates(dir, log);
  assert.equal(states, new Map<string, NodeState>([['web/a', 'yellow'], ['web/d', 'red']]));
  assert.equal(readdirSync(dir), ['node-states.json'], 'the file stays');
  assert.is(readFileSync(path.join(dir, 'node-states.json'), 'utf8'), text, 'untouched until the next save');
  assert.is(log.said.length, 1);
  assert.is(
    log.said[0],
    'node-states.json: 4 entries of the wrong shape left out: "web/b" (state "purple" is not green, yellow or red), ' +
      '"nokey" (not a "cluster/id" key), "web/c" (state 3 is not green, yellow or red), "__proto__" (not a "cluster/id" key); those nodes start green',
  );
});

entries('runtime changes: each bad part and entry is named; the rest holds', () => {
  const good = { factors: { 'web/b': { factor: 6, file: 1 } }, routes: { front: { cluster: 'other', file: 'web' } } };
  const text = JSON.stringify({
    ...good,
    factors: { ...good.factors, 'web/a': { factor: -1, file: 2 }, nokey: { factor: 1, file: 1 } },
    added: { 'web/x': { cluster: 'web', node: { id: 'y', address: '10.0.0.9:80' } } },
    removed: 7,
    extra: {},
  });
  const dir = tmpDir({ 'runtime-changes.json': text });
  const log = warnings();
  assert.equal(loadRuntimeChanges(dir, log), { ...noChanges(), ...good });
  assert.equal(readdirSync(dir), ['runtime-changes.json']);
  assert.is(log.said.length, 1);
  const line = log.said[0]!;
  assert.ok(line.startsWith('runtime-changes.json: 5 entries of the wrong shape left out: '), line);
  for (const named of ['"factors web/a"', '"factors nokey"', '"added web/x" (cluster must be "web" and node an object with id "x")', '"removed" (expected an object, found 7)', '"extra" (not a part of this file)']) {
    assert.ok(line.includes(named), `${named} in ${line}`);
  }
  assert.ok(line.endsWith('; the config file decides those'), line);
});

entries('many bad entries: the warning names ten and counts the rest', () => {
  const raw = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`web/n${i}`, 'blue']));
  const log = warnings();
  loadNodeStates(tmpDir({ 'node-states.json': JSON.stringify(raw) }), log);
  assert.match(log.said[0]!, /^node-states\.json: 25 entries of the wrong shape left out: .*"web\/n9" \(state "blue" is not green, yellow or red\), and 15 more; those nodes start green$/);
  assert.not.match(log.said[0]!, /n10/);
});

entries.run();

// ─── through a balancer ─────────────────────────────────────────────────────

const balancer = suite('state files: a balancer starts from what is left, and says what it lost');

/** A balancer whose state dir holds web/a yellow, web/b at factor 5 and an added web/c. */
async function stateDirWithEveryKind(): Promise<{ config: Config; stateDir: string }> {
  const stateDir = tmpDir();
  const config: Config = {
    listeners: [{ name: 'front', port: 0, host: '127.0.0.1', cluster: 'web' }],
    clusters: { web: { nodes: [{ id: 'a', address: '127.0.0.1:1' }, { id: 'b', address: '127.0.0.1:2' }] } },
    stateDir,
  };
  const b = createBalancer(config, { builtins: builtinPlugins(), logger: recordingLogger() });
  await b.start();
  try {
    b.setNodeState('web/a', 'yellow');
    await b.applyChanges(setLoadFactor(b.changeBase(), 'web/b', 5));
    await b.applyChanges(addNode(b.changeBase(), 'web', { id: 'c', address: '127.0.0.1:3' }));
  } finally {
    await b.stop(0);
  }
  return { config, stateDir };
}

async function startedState(config: Config) {
  const logger = recordingLogger();
  const b = createBalancer(config, { builtins: builtinPlugins(), logger });
  await b.start();
  try {
    const seen = { a: b.node('web/a')?.state, factor: b.node('web/b')?.loadFactor, c: b.node('web/c') !== undefined };
    // Warnings about the state files (other parts of the balancer may warn too).
    return { seen, warned: logger.lines.filter((l) => l.level === 'warn' && l.msg.includes('.json')).map((l) => l.msg) };
  } finally {
    await b.stop(0);
  }
}

balancer('good files: the yellow state, the factor and the added node all come back', async () => {
  const { config } = await stateDirWithEveryKind();
  const { seen, warned } = await startedState(config);
  assert.equal(seen, { a: 'yellow', factor: 5, c: true });
  assert.equal(warned, []);
});

balancer('garbage in node-states.json: set aside, a warning, nodes green; the runtime changes still hold', async () => {
  const { config, stateDir } = await stateDirWithEveryKind();
  writeFileSync(path.join(stateDir, 'node-states.json'), '\u0000\u0001garbage');
  const { seen, warned } = await startedState(config);
  assert.equal(seen, { a: 'green', factor: 5, c: true });
  assert.is(warned.length, 1);
  assert.match(warned[0]!, /^node-states\.json could not be read \(.*\); set aside as node-states\.json\.corrupt-.*; the node states it held are lost: nodes start green$/);
  assert.is(corruptFiles(stateDir, 'node-states.json').length, 1);
  assert.not.ok(existsSync(path.join(stateDir, 'node-states.json')));
});

balancer('garbage in runtime-changes.json: set aside, a warning, the file config serves; the yellow state still holds', async () => {
  const { config, stateDir } = await stateDirWithEveryKind();
  writeFileSync(path.join(stateDir, 'runtime-changes.json'), '{"factors": {"web/b": {"fac');
  const { seen, warned } = await startedState(config);
  assert.equal(seen, { a: 'yellow', factor: 1, c: false });
  assert.is(warned.length, 1);
  assert.match(warned[0]!, /^runtime-changes\.json could not be read \(.*\); set aside as runtime-changes\.json\.corrupt-.*; the runtime changes it held are lost/);
  assert.is(corruptFiles(stateDir, 'runtime-changes.json').length, 1);
});

balancer.run();

// ─── atomic writes, killed mid-write ────────────────────────────────────────

const atomic = suite('state files: a write killed at any moment leaves a whole file');

const ENTRIES = 30_000; // about 0.7 MB of JSON: a save takes tens of ms
const KILLS = 30;

/** The states version `v` of the writer saves: every key and state depends on `v`. */
function version(v: number): Map<string, NodeState> {
  const m = new Map<string, NodeState>();
  for (let i = 0; i < ENTRIES; i++) m.set(`v${v}/n${i}`, (i + v) % 2 ? 'yellow' : 'red');
  return m;
}

/** The writer: saves version 1, 2, 3, … in a tight loop; says `ready` once version 1 is on disk. */
const WRITER = `
const { saveNodeStates } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'core/node-states.ts')).href)});
const dir = process.argv[1];
const version = (v) => { const m = new Map(); for (let i = 0; i < ${ENTRIES}; i++) m.set('v' + v + '/n' + i, (i + v) % 2 ? 'yellow' : 'red'); return m; };
for (let v = 1; ; v++) {
  saveNodeStates(dir, version(v));
  if (v === 1) process.stdout.write('ready\\n');
}`;

/** The control: a plain writeFileSync over the file, which a kill can tear. */
const NAIVE = `
const fs = require('node:fs');
const file = require('node:path').join(process.argv[1], 'node-states.json');
const texts = [1, 2].map((v) => JSON.stringify(Object.fromEntries(Array.from({ length: ${ENTRIES} }, (_, i) => ['v' + v + '/n' + i, (i + v) % 2 ? 'yellow' : 'red']))));
fs.writeFileSync(file, texts[0]);
process.stdout.write('ready\\n');
for (let v = 1; ; v++) fs.writeFileSync(file, texts[v % 2]);`;

/** Start `script` writing into `dir`, kill it (SIGKILL) a random time after it is ready. */
function killMidWrite(args: string[], dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 5 + Math.random() * 120));
    child.once('error', reject);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`the writer ended by itself (${signal})`));
      else resolve(child.pid!);
    });
  });
}

/** The version the file holds, when it is whole and one of the written ones; else undefined. */
function wholeVersion(states: Map<string, NodeState>): number | undefined {
  const v = Number(/^v(\d+)\//.exec(states.keys().next().value ?? '')?.[1]);
  if (!Number.isInteger(v)) return undefined;
  const expected = version(v);
  if (states.size !== expected.size) return undefined;
  for (const [k, s] of expected) if (states.get(k) !== s) return undefined;
  return v;
}

atomic(`the writer killed ${KILLS} times: the file always parses as a whole version, and the killed writer's temp files are cleaned up`, async () => {
  const dir = tmpDir();
  const args = ['--import', pathToFileURL(path.join(ROOT, 'bin/sources.js')).href, '--input-type=module', '-e', WRITER];
  const versions: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    await killMidWrite(args, dir);
    const log = warnings();
    const states = loadNodeStates(dir, log);
    assert.equal(log.said, [], `kill ${k}: no warning`);
    const v = wholeVersion(states);
    assert.ok(v !== undefined, `kill ${k}: the file holds a whole version`);
    versions.push(v!);
    assert.equal(readdirSync(dir), ['node-states.json'], `kill ${k}: the load removed the dead writer's temp file`);
  }
  assert.ok(versions.some((v) => v > 1), `the writer got past its first version (${versions.join(' ')})`);
});

atomic('the control: a plain write over the file, killed the same way, is seen torn (the test can tell)', async () => {
  const dir = tmpDir();
  let torn = 0;
  for (let k = 0; k < 10 && torn === 0; k++) {
    await killMidWrite(['-e', NAIVE], dir);
    const log = warnings();
    const states = loadNodeStates(dir, log, { setAside: false });
    if (log.said.length > 0 || wholeVersion(states) === undefined) torn++;
  }
  assert.ok(torn > 0, 'a plain write was torn at least once in 10 kills');
});

atomic('a save replaces the file whole, and leaves no temporary file', () => {
  const dir = tmpDir();
  saveNodeStates(dir, new Map([['web/a', 'red']]));
  saveNodeStates(dir, new Map<string, NodeState>([['web/b', 'yellow'], ['web/a', 'green']]));
  assert.equal(readdirSync(dir), ['node-states.json']);
  assert.equal(JSON.parse(readFileSync(path.join(dir, 'node-states.json'), 'utf8')), { 'web/b': 'yellow' });
});

atomic.run();
