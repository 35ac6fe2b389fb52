/**
 * Counters every process of a group increments as one: a round robin's position, so that
 * the processes rotate as one balancer (a client's sequential connections go a, b, c, a…
 * whichever process accepts each).
 *
 * DESIGN: Node has no memory shared between processes, and a counter held by the primary
 * would cost every connection a message round trip. So the primary maps a small System V
 * shared memory segment (the optional native `shm-typed-array`), every worker maps the
 * same one, and `Atomics.add` on it is one locked instruction, exact across processes
 * (measured: two processes adding a million times each end at exactly two million). The
 * segment is a table of slots, found by a hash of the counter's name and claimed with
 * compare-and-swap, so processes agree on slots without talking. Its key is random and
 * recorded in the state directory with the primary's pid: a segment left by a balancer
 * killed with SIGKILL is removed by the next start, one whose primary runs never is. Without the native module (not built, another OS), counters are per process: the
 * processes then rotate each on their own, as before; the start says so once.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** One counter: `next()` gives 0, 1, 2, … across every process sharing it. */
export interface Counter {
  next(): number;
}

/**
 * Memory every process of the group sees, for plugins (`api.shared`): named arrays of
 * int32, used with Atomics. Exact limits across processes are built on it.
 */
export interface SharedMemory {
  /** True when every process of the group sees the same memory (else each has its own). */
  readonly shared: boolean;
  /** This process's index in the group, 0 (the primary) to `slots - 1`; a replacement worker takes the index of the one it replaces. */
  readonly slot: number;
  /** How many processes the group has (`workers`). */
  readonly slots: number;
  /**
   * `length` int32s under `name` (prefix it with your plugin's name), zeroed when first
   * made, the same memory in every process of the group, kept across reloads. Asking again
   * with another length is an error. When shared memory runs out (HEAP_BYTES in all) the
   * array is this process's own, and `sharedArray(name)` says so.
   */
  int32(name: string, length: number): Int32Array;
  /** False when `int32(name)` fell back to memory of this process only. */
  sharedArray(name: string): boolean;
}

export interface SharedCounters extends SharedMemory {
  /** What workers attach with (undefined when not shared). */
  readonly key: number | undefined;
  counter(name: string): Counter;
  /** Detach; the primary also removes the segment. */
  close(): void;
}

interface ShmModule {
  create(count: number, type: 'Int32Array', key: number): (Int32Array & { key?: number }) | null;
  get(key: number, type: 'Int32Array'): (Int32Array & { key?: number }) | null;
  detach(key: number, forceDestroy?: boolean): number;
  destroy(key: number): boolean;
  detachAll(): number;
}

/** Slots of 4 int32: name hash (2), counter (an array: its offset + 1), spare (an array: its length). */
const SLOTS = 32_768;
const WIDTH = 4;
/** After the slots: the heap's bump pointer (int32s used), then the heap, 16-byte aligned. */
const TOP = SLOTS * WIDTH;
const HEAP = TOP + 4;
/** The arrays' room: pages are only backed by memory once written, so unused room costs nothing. */
export const HEAP_BYTES = 8 * 1024 * 1024;
const SEGMENT_INTS = HEAP + HEAP_BYTES / 4;

let shmModule: ShmModule | null | undefined;

/**
 * The native module, or undefined. Its own exit handler prints to stdout, where only what
 * commands print belongs: it is replaced by a quiet one doing the same detaching.
 */
function loadShm(): ShmModule | undefined {
  if (shmModule !== undefined) return shmModule ?? undefined;
  const before = new Set(process.listeners('exit'));
  try {
    shmModule = createRequire(import.meta.url)('shm-typed-array') as ShmModule;
  } catch {
    shmModule = null;
    return undefined;
  }
  for (const l of process.listeners('exit')) if (!before.has(l)) process.removeListener('exit', l);
  const loaded = shmModule;
  process.on('exit', () => {
    try {
      loaded.detachAll();
    } catch {
      // Leaving at exit: the next start removes what this one recorded.
    }
  });
  return loaded;
}

/** Two int32 of a name's SHA-256, never both 0 (0, 0 marks a free slot). */
function hashOf(name: string): [number, number] {
  const d = createHash('sha256').update(name).digest();
  const a = d.readInt32LE(0);
  const b = d.readInt32LE(4);
  return a === 0 && b === 0 ? [1, 0] : [a, b];
}

/** The directory slot (its first int32) that `name` owns, claimed if new; -1 when the table is full. */
function slotOf(table: Int32Array, name: string): number {
  const [a, b] = hashOf(name);
  const start = (a >>> 0) % SLOTS;
  for (let probe = 0; probe < SLOTS; probe++) {
    const at = ((start + probe) % SLOTS) * WIDTH;
    // Claim a free slot: first word, then second; a slot half claimed by another process
    // with the same first word is read again until both are written.
    const first = Atomics.compareExchange(table, at, 0, a);
    if (first !== 0 && first !== a) continue;
    if (first === 0) Atomics.store(table, at + 1, b);
    else {
      let second = Atomics.load(table, at + 1);
      for (let spins = 0; second === 0 && b !== 0 && spins < 1e6; spins++) second = Atomics.load(table, at + 1);
      if (second !== b) continue;
    }
    return at;
  }
  return -1;
}

function tableCounter(table: Int32Array, name: string): Counter {
  const at = slotOf(table, name);
  // A full table (32,768 names): this one counts alone.
  if (at < 0) return localCounter();
  const slot = at + 2;
  return { next: () => Atomics.add(table, slot, 1) >>> 0 };
}

/**
 * The shared array under `name`, or undefined when the heap is full. Whoever claims the
 * name's slot first takes room from the bump pointer and publishes offset + 1 (0 means
 * "being made"); the others wait for it. Arrays' names are kept apart from counters'.
 */
function tableArray(table: Int32Array, name: string, length: number): Int32Array | undefined {
  const at = slotOf(table, `\0int32\0${name}`);
  if (at < 0) return undefined;
  let offset = Atomics.load(table, at + 2);
  if (offset === 0 && Atomics.compareExchange(table, at + 3, 0, length) === 0) {
    // This process made the claim: room, rounded up to 16 bytes so arrays never share a line end.
    const room = (length + 3) & ~3;
    const from = Atomics.add(table, TOP, room);
    if (from + room > HEAP_BYTES / 4) {
      Atomics.store(table, at + 2, -1);
      return undefined;
    }
    offset = HEAP + from + 1;
    Atomics.store(table, at + 2, offset);
  }
  for (let spins = 0; offset === 0 && spins < 1e7; spins++) offset = Atomics.load(table, at + 2);
  if (offset <= 0) return undefined;
  const made = Atomics.load(table, at + 3);
  if (made !== length) throw new Error(`shared array "${name}" exists with ${made} int32s, not ${length}`);
  return table.subarray(offset - 1, offset - 1 + length);
}

/** `int32`/`sharedArray` over `make` (the shared arrays, or undefined: this process's own). */
function arraysOver(make: (name: string, length: number) => Int32Array | undefined) {
  const arrays = new Map<string, { array: Int32Array; shared: boolean }>();
  return {
    int32(name: string, length: number): Int32Array {
      if (!Number.isInteger(length) || length < 1) throw new Error(`shared array "${name}": length must be a whole number ≥ 1, got ${length}`);
      const had = arrays.get(name);
      if (had) {
        if (had.array.length !== length) throw new Error(`shared array "${name}" exists with ${had.array.length} int32s, not ${length}`);
        return had.array;
      }
      const shared = make(name, length);
      const entry = { array: shared ?? new Int32Array(length), shared: shared !== undefined };
      arrays.set(name, entry);
      return entry.array;
    },
    sharedArray: (name: string) => arrays.get(name)?.shared ?? false,
  };
}

function localCounter(): Counter {
  let n = 0;
  return { next: () => n++ };
}

/** Counters and arrays of this process only. */
export function localCounters(slot = 0, slots = 1): SharedCounters {
  const named = new Map<string, Counter>();
  return {
    shared: false,
    key: undefined,
    slot,
    slots,
    counter: (name) => named.get(name) ?? (named.set(name, localCounter()), named.get(name)!),
    ...arraysOver(() => undefined),
    close() {},
  };
}

function over(table: Int32Array, key: number, slot: number, slots: number, release: () => void): SharedCounters {
  const named = new Map<string, Counter>();
  return {
    shared: true,
    key,
    slot,
    slots,
    counter: (name) => named.get(name) ?? (named.set(name, tableCounter(table, name)), named.get(name)!),
    ...arraysOver((name, length) => tableArray(table, name, length)),
    close: release,
  };
}

const RECORD = 'shared-counters.json';

/** True while process `pid` runs (here, or as another user's: EPERM). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The segment a balancer of `stateDir` recorded, and its primary's pid. */
function recorded(stateDir: string): { pid: number; key: number } | undefined {
  try {
    const r = JSON.parse(readFileSync(path.join(stateDir, RECORD), 'utf8')) as { pid?: unknown; key?: unknown };
    return typeof r.pid === 'number' && typeof r.key === 'number' ? { pid: r.pid, key: r.key } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The primary's counters: a fresh segment under a random key, recorded in `stateDir` so
 * that the next start removes it if this balancer is killed (a segment whose primary
 * still runs is never touched: a second start on the same folder that fails must not take
 * the first one's rotation away); or per-process counters, with the reason, when none can
 * be made.
 */
export function createSharedCounters(stateDir: string, slots = 1): { counters: SharedCounters; why?: string } {
  const shm = loadShm();
  if (!shm) return { counters: localCounters(0, slots), why: 'the optional module shm-typed-array is not installed or not built' };
  try {
    const before = recorded(stateDir);
    const live = before !== undefined && before.pid !== process.pid && alive(before.pid);
    if (before && !live && shm.get(before.key, 'Int32Array')) {
      shm.detach(before.key);
      shm.destroy(before.key);
    }
    let key = 0;
    let table: Int32Array | null = null;
    for (let tries = 0; !table && tries < 8; tries++) {
      key = randomInt(1, 0x7fffffff);
      table = shm.create(SEGMENT_INTS, 'Int32Array', key);
    }
    if (!table) return { counters: localCounters(0, slots), why: 'no free shared memory key' };
    // A new System V segment is zeroed by the kernel: not writing it keeps the heap's pages unbacked until used.
    const mine = !live && record(stateDir, key);
    return {
      counters: over(table, key, 0, slots, () => {
        shm.detach(key);
        shm.destroy(key);
        if (mine) rmSync(path.join(stateDir, RECORD), { force: true });
      }),
    };
  } catch (err) {
    return { counters: localCounters(0, slots), why: `no shared memory: ${(err as Error).message}` };
  }
}

function record(stateDir: string, key: number): boolean {
  try {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, RECORD), JSON.stringify({ pid: process.pid, key }));
    return true;
  } catch {
    return false;
  }
}

/** A worker's view of its primary's counters (per process when it cannot attach). */
export function attachSharedCounters(key: number | undefined, slot = 0, slots = 1): SharedCounters {
  if (key === undefined) return localCounters(slot, slots);
  const shm = loadShm();
  try {
    const table = shm?.get(key, 'Int32Array');
    return table && table.length >= SEGMENT_INTS ? over(table, key, slot, slots, () => void shm!.detach(key)) : localCounters(slot, slots);
  } catch {
    return localCounters(slot, slots);
  }
}
