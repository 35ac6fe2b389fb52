/**
 * Properties of the persisted state files' loaders (node-states.json, runtime-changes.json),
 * with fast-check: arbitrary JSON and arbitrary bytes never throw out of a loader; a good
 * file round-trips; a damaged one is set aside with a warning; what is read always applies
 * and saves. The coverage-guided target (bench/fuzz/state-files.ts) is driven here too.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz, SEEDS } from '../../bench/fuzz/state-files.ts';
import { readStateFile, writeStateFile, type StateFileKind, type StateLog } from '../../core/json-file.ts';
import { NODE_STATES_FILE } from '../../core/node-states.ts';
import { noChanges, RUNTIME_CHANGES_FILE, type RuntimeChanges } from '../../core/runtime-changes.ts';
import type { NodeConfig, NodeState } from '../../core/types.ts';
import { tmpDir } from '../helpers/tmp.ts';

const KINDS = [NODE_STATES_FILE, RUNTIME_CHANGES_FILE] as StateFileKind<unknown>[];
/** A fixed seed, as the other property tests (FC_SEED replays another; a failure prints it). */
const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const RUNS = { numRuns: 150, seed: SEED };

/** A log that keeps the warnings' messages. */
function warnings(): StateLog & { said: string[] } {
  const said: string[] = [];
  return { said, warn: (_fields, message) => said.push(message) };
}

/** Write `bytes` as `kind`'s file in a clean `dir`, load it; what happened. */
function load(dir: string, kind: StateFileKind<unknown>, bytes: Uint8Array | string) {
  for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { force: true });
  writeFileSync(path.join(dir, kind.name), bytes);
  const log = warnings();
  const value = readStateFile(dir, kind, log);
  const files = readdirSync(dir);
  return { value, said: log.said, files, aside: files.filter((f) => f.startsWith(`${kind.name}.corrupt-`)) };
}

/** The JSON text a save writes for `value`. */
const saved = (kind: StateFileKind<unknown>, value: unknown) => JSON.stringify(kind.toJson(value));

// ─── arbitraries of good files ──────────────────────────────────────────────

const name = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__proto__');
const clusterName = name.filter((s) => !s.includes('/'));
const nodeKey = fc.tuple(clusterName, name).map(([c, id]) => `${c}/${id}`);
const factor = fc.double({ min: Number.MIN_VALUE, max: 1e12, noNaN: true });

const nodeStates = fc
  .dictionary(nodeKey, fc.constantFrom<NodeState>('green', 'yellow', 'red'), { maxKeys: 20 })
  .map((o) => new Map(Object.entries(o)));

const runtimeChanges: fc.Arbitrary<RuntimeChanges> = fc.record({
  factors: fc.dictionary(nodeKey, fc.record({ factor, file: factor }), { maxKeys: 5 }),
  routes: fc.dictionary(name, fc.record({ cluster: name, file: name }), { maxKeys: 5 }),
  added: fc
    .dictionary(nodeKey, fc.record({ address: fc.string(), extra: fc.jsonValue({ maxDepth: 3 }) }), { maxKeys: 5 })
    .map((o) =>
      Object.fromEntries(
        Object.entries(o).map(([key, n]) => {
          const [cluster, id] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
          return [key, { cluster, node: { id, ...n } as unknown as NodeConfig }];
        }),
      ),
    ),
  removed: fc.dictionary(nodeKey, fc.record({ file: fc.string() }), { maxKeys: 5 }),
});

const goodValue = (kind: StateFileKind<unknown>): fc.Arbitrary<unknown> => (kind === NODE_STATES_FILE ? nodeStates : runtimeChanges);

/** Text near a real file: the right parts, entries of every shape, some good, most not. */
const nearFile = fc
  .dictionary(
    fc.constantFrom('factors', 'routes', 'added', 'removed', 'web/a', 'junk', '__proto__'),
    fc.oneof(
      fc.dictionary(fc.constantFrom('web/a', 'web/b', 'web/c', 'other/x', 'front', 'back', 'nokey', '', '__proto__'), fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.record({ factor: fc.oneof(factor, fc.jsonValue()), file: fc.oneof(factor, fc.constant(2), fc.jsonValue()) }, { requiredKeys: [] }),
        fc.record({ cluster: fc.constantFrom('web', 'other', 'nope', ''), file: fc.constantFrom('web', 'other', '') }, { requiredKeys: [] }),
        fc.record({ cluster: fc.constantFrom('web', 'other'), node: fc.record({ id: fc.constantFrom('a', 'c', 'x'), address: fc.constantFrom('10.0.0.9:80', 'nope', ''), fallover: fc.constantFrom('a', 'b', 'zz'), loadFactor: fc.jsonValue() }, { requiredKeys: ['id'] }) }),
        fc.constantFrom('yellow', 'red', 'green', 'purple'),
      )),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    { maxKeys: 5 },
  )
  .map((o) => JSON.stringify(o));

// ─── properties ─────────────────────────────────────────────────────────────

const props = suite('state files: properties (fast-check)');

for (const kind of KINDS) {
  props(`${kind.name}: arbitrary JSON never throws; read means kept in place, unreadable means set aside with a warning`, () => {
    const dir = tmpDir();
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 4 }), nearFile), (text) => {
        const r = load(dir, kind, text);
        if (r.aside.length === 1) {
          assert.equal(r.files, r.aside, 'set aside: nothing else left');
          assert.is(readFileSync(path.join(dir, r.aside[0]!), 'utf8'), text);
          assert.is(r.said.length, 1);
          assert.ok(r.said[0]!.includes(kind.lost), r.said[0]);
          assert.is(saved(kind, r.value), saved(kind, kind.empty()));
        } else {
          assert.equal(r.files, [kind.name], 'a file read stays');
          assert.ok(r.said.length <= 1, 'at most one warning, for entries left out');
        }
      }),
      RUNS,
    );
  });

  props(`${kind.name}: arbitrary bytes never throw out of the loader`, () => {
    const dir = tmpDir();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = load(dir, kind, bytes);
        assert.ok(r.aside.length + (r.files.includes(kind.name) ? 1 : 0) === 1, 'the file is read or set aside');
      }),
      RUNS,
    );
  });

  props(`${kind.name}: a good file round-trips (save then load gives the same, silently)`, () => {
    const dir = tmpDir();
    fc.assert(
      fc.property(goodValue(kind), (value) => {
        for (const f of readdirSync(dir)) rmSync(path.join(dir, f));
        writeStateFile(dir, kind, value);
        const log = warnings();
        const back = readStateFile(dir, kind, log);
        assert.equal(log.said, []);
        assert.equal(readdirSync(dir), [kind.name]);
        assert.is(saved(kind, back), saved(kind, value));
        // As JSON text, in order: uvu's deep equality compares \`constructor\` properties, and a
        // listener may well be named "constructor" (an own property here, not Object).
        if (kind === RUNTIME_CHANGES_FILE) assert.is(JSON.stringify(back), JSON.stringify(value), 'the same');
        else assert.equal(back, new Map([...(value as Map<string, NodeState>)].filter(([, s]) => s !== 'green')));
      }),
      RUNS,
    );
  });

  props(`${kind.name}: a good file cut short or with junk after it is set aside with a warning, never half read`, () => {
    const dir = tmpDir();
    const damage = fc.oneof(
      fc.nat().map((n) => (text: string) => text.slice(0, n % text.trimEnd().length)),
      fc.string({ minLength: 1, maxLength: 5 }).filter((s) => s.trim() !== '').map((junk) => (text: string) => text + junk),
      fc.nat().map((n) => (text: string) => `${text.slice(0, n % text.length)}\u0000${text.slice(n % text.length)}`),
    );
    fc.assert(
      fc.property(goodValue(kind), damage, (value, hurt) => {
        const text = `${JSON.stringify(kind.toJson(value), null, 2)}\n`;
        const r = load(dir, kind, hurt(text));
        assert.is(r.aside.length, 1, 'set aside');
        assert.is(r.said.length, 1, 'one warning');
        assert.is(saved(kind, r.value), saved(kind, kind.empty()));
      }),
      RUNS,
    );
  });

  props(`${kind.name}: a byte of a good file changed: read (entries left out are named) or set aside, never thrown`, () => {
    const dir = tmpDir();
    fc.assert(
      fc.property(goodValue(kind), fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
        const bytes = Buffer.from(`${JSON.stringify(kind.toJson(value), null, 2)}\n`);
        bytes[at % bytes.length] = byte;
        const r = load(dir, kind, bytes);
        if (r.aside.length === 1) assert.equal([r.files.length, r.said.length], [1, 1]);
        else assert.ok(r.said.length <= 1);
        // What is served saves and reads back the same. (A byte that turns one valid value
        // into another, or one key into its neighbour's, cannot be seen without a checksum.)
        writeStateFile(dir, kind, r.value);
        assert.is(saved(kind, readStateFile(dir, kind, warnings())), saved(kind, r.value));
      }),
      RUNS,
    );
  });
}

props('runtime changes from any near-file text apply to a config and save: the fuzz target finds no fault', () => {
  fc.assert(
    fc.property(fc.oneof(nearFile, fc.json({ maxDepth: 3 })), (text) => fuzz(Buffer.from(text))),
    { numRuns: 500, seed: SEED },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => fuzz(Buffer.from(bytes))),
    { numRuns: 300, seed: SEED },
  );
});

props('the fuzz target, on its seeds and on known hard inputs', () => {
  const hard = [
    '',
    '\uFEFF{}',
    '{"__proto__": {"factor": 1, "file": 1}}',
    '{"routes": {"__proto__": {"cluster": "other", "file": "web"}}}',
    '{"added": {"web/c": {"cluster": "web", "node": ' + '['.repeat(5000) + ']'.repeat(5000) + '}}}',
    '[' .repeat(100_000) + ']'.repeat(100_000),
    '{"factors": {"web/a": {"factor": 1e309, "file": 2}}}',
    '{"toString": {}, "constructor": {"web/a": "red"}}',
    '{"web/a": "yellow", "web/a": "red"}',
  ];
  for (const text of [...hard, ...SEEDS]) fuzz(Buffer.from(text));
  fuzz(Buffer.from(JSON.stringify(noChanges())));
  fuzz(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]));
  fuzz(Buffer.from([0xc3, 0x28]));
});

props.run();
