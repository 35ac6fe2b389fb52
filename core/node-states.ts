/**
 * Node states set by operators (yellow, red) outlive restarts: they are kept in
 * `<stateDir>/node-states.json` as `{ "cluster/id": "yellow" }` (green is the default and
 * is not stored). The config file has no state field, so a saved state holds until an
 * operator sets another one.
 */
import path from 'node:path';
import { readJsonFile, writeJsonFile } from './json-file.ts';
import type { NodeState } from './types.ts';

const FILE = 'node-states.json';
const STATES: readonly NodeState[] = ['green', 'yellow', 'red'];

export function loadNodeStates(stateDir: string): Map<string, NodeState> {
  const raw = readJsonFile(path.join(stateDir, FILE));
  const out = new Map<string, NodeState>();
  if (typeof raw === 'object' && raw !== null) {
    for (const [key, value] of Object.entries(raw)) {
      if (STATES.includes(value as NodeState)) out.set(key, value as NodeState);
    }
  }
  return out;
}

export function saveNodeStates(stateDir: string, states: ReadonlyMap<string, NodeState>): void {
  const body = Object.fromEntries([...states].filter(([, s]) => s !== 'green').sort(([a], [b]) => a.localeCompare(b)));
  writeJsonFile(path.join(stateDir, FILE), body);
}
