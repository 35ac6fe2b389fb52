/**
 * Node states set by operators (yellow, red) outlive restarts: they are kept in
 * `<stateDir>/node-states.json` as `{ "cluster/id": "yellow" }` (green is the default and
 * is not stored). The config file has no state field, so a saved state holds until an
 * operator sets another one.
 *
 * A file that cannot be read is set aside and every node starts green; an entry of the
 * wrong shape is left out (that node starts green). Both are logged (core/json-file.ts).
 */
import { preview, readStateFile, StateShapeError, writeStateFile, type ReadOptions, type StateFileKind, type StateLog } from './json-file.ts';
import type { NodeState } from './types.ts';

const STATES: readonly unknown[] = ['green', 'yellow', 'red'] satisfies NodeState[];

/** A `cluster/id` key: a slash with something on both sides. */
export const isNodeKey = (key: string): boolean => key.indexOf('/') > 0 && key.indexOf('/') < key.length - 1;

export const NODE_STATES_FILE: StateFileKind<Map<string, NodeState>> = {
  name: 'node-states.json',
  lost: 'the node states it held are lost: nodes start green',
  dropped: 'those nodes start green',
  empty: () => new Map(),
  fromJson(raw, drop) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new StateShapeError(`expected an object of "cluster/id": state, found ${preview(raw, 30)}`);
    }
    const out = new Map<string, NodeState>();
    for (const [key, value] of Object.entries(raw)) {
      if (!isNodeKey(key)) drop(key, 'not a "cluster/id" key');
      else if (!STATES.includes(value)) drop(key, `state ${preview(value, 30)} is not green, yellow or red`);
      else out.set(key, value as NodeState);
    }
    return out;
  },
  toJson: (states) => Object.fromEntries([...states].filter(([, s]) => s !== 'green').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
};

/** The saved states; `log` hears about a bad file or entry (see above). */
export function loadNodeStates(stateDir: string, log?: StateLog, options?: ReadOptions): Map<string, NodeState> {
  return readStateFile(stateDir, NODE_STATES_FILE, log, options);
}

export function saveNodeStates(stateDir: string, states: ReadonlyMap<string, NodeState>): void {
  writeStateFile(stateDir, NODE_STATES_FILE, states as Map<string, NodeState>);
}
