/**
 * Exact counts shared by the processes of a group: how many connections a node, a
 * listener or a cluster's queue holds now, against a limit, whichever process took them.
 *
 * Two int32 arrays, both from `api.shared` (or plain ones in tests):
 * - `table`: NAMES entries of WIDTH int32: the name's hash (two words, never both 0: 0, 0
 *   marks a free entry), the count held now, and a release sequence (bumped on every
 *   release, so that a waiting client can tell that something was freed).
 *   An entry is found by hashing the name (a node's `cluster/id` key, `listener:<name>`,
 *   `queue:<cluster>`) and probing onwards, claimed with compare-and-swap, as the core's
 *   shared counters do: every process agrees on an entry without talking, and an entry
 *   outlives reloads, so a connection opened before a reload gives back to the same count.
 * - `rows`: one row of NAMES int32 per process slot: what this process holds of each
 *   entry. A worker that replaces a dead one takes its slot, finds the dead process's
 *   holdings in the row and gives them back (`recover`), since those connections died
 *   with it.
 *
 * Order of writes, chosen so that a process killed between two of them can only leak one
 * slot (the limit is then one lower than set until the group restarts), never overshoot:
 * a claim adds to the total first and to the row after; a release takes from the row
 * first and from the total after.
 */
import { createHash } from 'node:crypto';

/** Entries of the table: limited nodes, limited listeners and queues, together. */
export const NAMES = 2048;
const WIDTH = 4;
const COUNT = 2;
const RELEASES = 3;

export const TABLE_LENGTH = NAMES * WIDTH;
export const rowsLength = (slots: number) => NAMES * slots;

/** Two int32 of the name's SHA-256, never both 0. */
function hashOf(name: string): [number, number] {
  const d = createHash('sha256').update(name).digest();
  const a = d.readInt32LE(0);
  const b = d.readInt32LE(4);
  return a === 0 && b === 0 ? [1, 0] : [a, b];
}

/** The entry `name` owns in `table`, claimed if new; -1 when the table is full. */
export function entryOf(table: Int32Array, name: string): number {
  const [a, b] = hashOf(name);
  const start = (a >>> 0) % NAMES;
  for (let probe = 0; probe < NAMES; probe++) {
    const entry = (start + probe) % NAMES;
    const at = entry * WIDTH;
    // First word, then second: an entry half claimed by another process with the same
    // first word is read again until its second word is written (a bounded wait).
    const first = Atomics.compareExchange(table, at, 0, a);
    if (first !== 0 && first !== a) continue;
    if (first === 0) Atomics.store(table, at + 1, b);
    else {
      let second = Atomics.load(table, at + 1);
      for (let spins = 0; second === 0 && b !== 0 && spins < 1e6; spins++) second = Atomics.load(table, at + 1);
      if (second !== b) continue;
    }
    return entry;
  }
  return -1;
}

export class SharedLimits {
  private readonly entries = new Map<string, number>();
  private readonly row: number;

  constructor(
    private readonly table: Int32Array,
    private readonly rows: Int32Array,
    slot: number,
  ) {
    if (table.length !== TABLE_LENGTH) throw new Error(`table: ${table.length} int32s, expected ${TABLE_LENGTH}`);
    if ((slot + 1) * NAMES > rows.length) throw new Error(`rows: no row for slot ${slot}`);
    this.row = slot * NAMES;
  }

  /** The entry of `name` (cached), or -1 when the table is full. */
  entry(name: string): number {
    let e = this.entries.get(name);
    if (e === undefined) this.entries.set(name, (e = entryOf(this.table, name)));
    return e;
  }

  /**
   * Takes one of `max` for this process; false when `max` are taken. A compare-and-swap
   * loop: the total never passes `max`, however many processes claim at once (a failed
   * swap means another process moved the count; read it again).
   */
  claim(entry: number, max: number): boolean {
    const at = entry * WIDTH + COUNT;
    let count = Atomics.load(this.table, at);
    while (count < max) {
      const seen = Atomics.compareExchange(this.table, at, count, count + 1);
      if (seen === count) {
        Atomics.add(this.rows, this.row + entry, 1);
        return true;
      }
      count = seen;
    }
    return false;
  }

  /** Gives back one that this process took with `claim`. */
  release(entry: number): void {
    Atomics.sub(this.rows, this.row + entry, 1);
    Atomics.sub(this.table, entry * WIDTH + COUNT, 1);
    Atomics.add(this.table, entry * WIDTH + RELEASES, 1);
  }

  /** Held now, by every process. */
  count(entry: number): number {
    return Atomics.load(this.table, entry * WIDTH + COUNT);
  }

  /** Bumped by every release: a change means something was freed since it was read. */
  releases(entry: number): number {
    return Atomics.load(this.table, entry * WIDTH + RELEASES);
  }

  /** Held now by this process. */
  held(entry: number): number {
    return Atomics.load(this.rows, this.row + entry);
  }

  /**
   * Gives back everything this process's row says it holds, and empties the row: what a
   * dead process held before this one took its slot. Returns how many were given back.
   * Call it once per process, before its first claim.
   */
  recover(): number {
    let given = 0;
    for (let entry = 0; entry < NAMES; entry++) {
      const held = Atomics.exchange(this.rows, this.row + entry, 0);
      if (held === 0) continue;
      Atomics.sub(this.table, entry * WIDTH + COUNT, held);
      Atomics.add(this.table, entry * WIDTH + RELEASES, 1);
      given += held;
    }
    return given;
  }
}
