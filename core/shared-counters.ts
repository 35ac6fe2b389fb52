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

export interface SharedCounters {
  /** True when the processes share them (else each process counts alone). */
  readonly shared: boolean;
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

/** Slots of 4 int32: name hash (2), counter, spare. */
const SLOTS = 4096;
const WIDTH = 4;

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

function tableCounter(table: Int32Array, name: string): Counter {
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
    const slot = at + 2;
    return { next: () => Atomics.add(table, slot, 1) >>> 0 };
  }
  // A full table (4,096 names): this one counts alone.
  return localCounter();
}

function localCounter(): Counter {
  let n = 0;
  return { next: () => n++ };
}

/** Counters of this process only. */
export function localCounters(): SharedCounters {
  const named = new Map<string, Counter>();
  return {
    shared: false,
    key: undefined,
    counter: (name) => named.get(name) ?? (named.set(name, localCounter()), named.get(name)!),
    close() {},
  };
}

function over(table: Int32Array, key: number, release: () => void): SharedCounters {
  const named = new Map<string, Counter>();
  return {
    shared: true,
    key,
    counter: (name) => named.get(name) ?? (named.set(name, tableCounter(table, name)), named.get(name)!),
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
export function createSharedCounters(stateDir: string): { counters: SharedCounters; why?: string } {
  const shm = loadShm();
  if (!shm) return { counters: localCounters(), why: 'the optional module shm-typed-array is not installed or not built' };
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
      table = shm.create(SLOTS * WIDTH, 'Int32Array', key);
    }
    if (!table) return { counters: localCounters(), why: 'no free shared memory key' };
    table.fill(0);
    const mine = !live && record(stateDir, key);
    return {
      counters: over(table, key, () => {
        shm.detach(key);
        shm.destroy(key);
        if (mine) rmSync(path.join(stateDir, RECORD), { force: true });
      }),
    };
  } catch (err) {
    return { counters: localCounters(), why: `no shared memory: ${(err as Error).message}` };
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
export function attachSharedCounters(key: number | undefined): SharedCounters {
  if (key === undefined) return localCounters();
  const shm = loadShm();
  try {
    const table = shm?.get(key, 'Int32Array');
    return table ? over(table, key, () => void shm!.detach(key)) : localCounters();
  } catch {
    return localCounters();
  }
}
