/**
 * Coverage-guided fuzz target (@jazzer.js/core) for the parsers of the persisted state
 * files: `<stateDir>/node-states.json` and `<stateDir>/runtime-changes.json`
 * (core/json-file.ts `parseState` with each file's kind). Run as
 * `npm run fuzz -- state-files --seconds N`.
 *
 * `fuzz(data)` reads `data` as the bytes of each file and checks what a loader promises,
 * throwing only when a promise is broken (a real bug):
 * - the parser never throws, whatever the bytes;
 * - a file it cannot read gives the empty value and a reason; one it can read gives a
 *   well-shaped value: saving it and reading that back gives the same file again, with
 *   nothing dropped and no reason to set it aside (what is served can be saved, and comes
 *   back the same after a restart);
 * - runtime changes read from any file apply to a config without throwing, and what they
 *   keep can be saved.
 * `SEEDS` are files as a save writes them, and near misses, for a starting corpus.
 * No I/O: the target runs at the parser's speed.
 */
import { validateConfig } from '../../core/config-validate.ts';
import { parseState, type StateFileKind } from '../../core/json-file.ts';
import { NODE_STATES_FILE } from '../../core/node-states.ts';
import { applyRuntimeChanges, RUNTIME_CHANGES_FILE } from '../../core/runtime-changes.ts';
import type { ResolvedConfig } from '../../core/types.ts';

/** A config the fuzzed runtime changes apply to: names a fuzzer finds in the seeds. */
const CONFIG: ResolvedConfig = validateConfig({
  listeners: [
    { name: 'front', port: 8080, host: '127.0.0.1', cluster: 'web' },
    { name: 'back', port: 8081, host: '127.0.0.1', cluster: 'other' },
  ],
  clusters: {
    web: {
      nodes: [
        { id: 'a', address: '10.0.0.1:80', loadFactor: 2, fallover: 'b' },
        { id: 'b', address: '10.0.0.2:80' },
      ],
    },
    other: { nodes: [{ id: 'x', address: '10.0.1.1:80' }] },
  },
});

/** Files as a save writes them (and near misses), for a starting corpus. */
export const SEEDS: readonly string[] = [
  '{\n  "web/a": "yellow",\n  "web/b": "red"\n}\n',
  JSON.stringify({
    factors: { 'web/b': { factor: 3, file: 1 } },
    routes: { front: { cluster: 'other', file: 'web' } },
    added: { 'web/c': { cluster: 'web', node: { id: 'c', address: '10.0.0.3:80', fallover: 'b', probe: { tcp: '10.0.0.3:9', interval: '2s' } } } },
    removed: { 'web/a': { file: '{"id":"a","host":"10.0.0.1","port":80,"loadFactor":2,"fallover":"b"}' } },
  }, null, 2),
  '{"factors": {"web/a": {"factor": 0, "file": 2}}, "routes": {"": {"cluster": "web"}}, "extra": 1}',
  '{"web/a": "purple", "nokey": "red"}',
  '{"factors": {"web/b": {"fac',
];

/** Throws when `kind`'s parser breaks a promise on `data`; returns the value read. */
export function checkStateFile<T>(data: Uint8Array, kind: StateFileKind<T>): T {
  const first = parseState(data, kind);
  if (first.corrupt !== undefined) {
    if (first.dropped.length > 0) throw new Error(`${kind.name}: a file set aside also reports dropped entries`);
    if (JSON.stringify(kind.toJson(first.value)) !== JSON.stringify(kind.toJson(kind.empty()))) {
      throw new Error(`${kind.name}: a file that cannot be read still gave a value`);
    }
    return first.value;
  }
  const saved = JSON.stringify(kind.toJson(first.value), null, 2);
  const again = parseState(Buffer.from(saved), kind);
  if (again.corrupt !== undefined || again.dropped.length > 0) {
    throw new Error(`${kind.name}: a saved value does not read back cleanly (${again.corrupt ?? again.dropped.join(', ')}): ${saved.slice(0, 300)}`);
  }
  if (JSON.stringify(kind.toJson(again.value), null, 2) !== saved) {
    throw new Error(`${kind.name}: a saved value reads back different: ${saved.slice(0, 300)}`);
  }
  return first.value;
}

/** The fuzz entry: `data` as the bytes of each state file. */
export function fuzz(data: Buffer): void {
  checkStateFile(data, NODE_STATES_FILE);
  const changes = checkStateFile(data, RUNTIME_CHANGES_FILE);
  const applied = applyRuntimeChanges(CONFIG, changes);
  JSON.stringify(applied.kept);
  JSON.stringify(applied.config);
}
