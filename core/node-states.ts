/**
 * Node states set by operators (yellow, red) outlive restarts: they are kept in
 * `<stateDir>/node-states.json` as `{ "cluster/id": "yellow" }` (green is the default and
 * is not stored). Written whole to a temporary file and renamed, so a crash mid-write
 * never leaves a torn file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NodeState } from './types.ts';

const FILE = 'node-states.json';
const STATES: readonly NodeState[] = ['green', 'yellow', 'red'];

export function loadNodeStates(stateDir: string): Map<string, NodeState> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path.join(stateDir, FILE), 'utf8'));
  } catch {
    return new Map();
  }
  const out = new Map<string, NodeState>();
  if (typeof raw === 'object' && raw !== null) {
    for (const [key, value] of Object.entries(raw)) {
      if (STATES.includes(value as NodeState)) out.set(key, value as NodeState);
    }
  }
  return out;
}

export function saveNodeStates(stateDir: string, states: ReadonlyMap<string, NodeState>): void {
  mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, FILE);
  const temp = `${file}.${process.pid}.tmp`;
  const body = Object.fromEntries([...states].filter(([, s]) => s !== 'green').sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(temp, `${JSON.stringify(body, null, 2)}\n`);
  renameSync(temp, file);
}
