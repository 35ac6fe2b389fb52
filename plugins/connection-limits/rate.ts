/**
 * New connections per client address in fixed windows, exact across the processes of a
 * group: a fixed-size open-addressing table in shared memory, one per listener.
 *
 * An entry is two int32: the address's tag (a keyed hash, never 0; 0 marks a free entry)
 * and its state, the window and the count packed in one word: (window mod 65535) << 16 |
 * count. One word, so that "a new window starts at 1" and "this window counts one more"
 * are each one compare-and-swap: no process can reset a count another just added to.
 * LOCKED (window 65535, which no real window takes) marks an entry being handed over.
 *
 * An address's entry is among the PROBES entries after its hash. Entries are never freed:
 * one whose window is over (stale) is handed to a new address, under LOCKED: the taker
 * swaps the state to LOCKED, writes its tag, then writes the state. A reader takes the
 * tag, then the state, then the tag again; when the tag moved, or the state is LOCKED, it
 * reads again, so it never counts into an entry that changed hands under it.
 *
 * When the PROBES entries all belong to other addresses active in this window (a table
 * too small for the clients of one window), the address is not tracked: the caller lets
 * it through (fail open) and counts it.
 */
import { createHash } from 'node:crypto';

export const RATE_ENTRIES = 8192;
export const PROBES = 16;
/** The table, then one int32 after it: how many connections went untracked. */
export const RATE_LENGTH = RATE_ENTRIES * 2 + 1;
const UNTRACKED = RATE_ENTRIES * 2;
const LOCKED = -1;
const WINDOWS = 0xffff;
/** The most a window can count (16 bits). */
export const MAX_PER_WINDOW = 0xffff;

export type RateAnswer = 'ok' | 'limited' | 'untracked';

const pack = (window: number, count: number) => ((window << 16) | count) | 0;
const windowOf = (state: number) => state >>> 16;
const countOf = (state: number) => state & 0xffff;

/** The tag and the first entry of `address`, keyed by `secret` (so that nobody can pick addresses that collide with another's). */
export function addressKey(secret: Int32Array, address: string): { tag: number; start: number } {
  const h = createHash('sha256');
  h.update(new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength));
  const d = h.update(address).digest();
  const tag = d.readInt32LE(0) || 1;
  return { tag, start: d.readUInt32LE(4) % RATE_ENTRIES };
}

/** Fills `secret` with random words once, whichever process comes first; every process then reads the same. */
export function seedSecret(secret: Int32Array): void {
  const random = new Int32Array(secret.length);
  crypto.getRandomValues(random);
  for (let i = 0; i < secret.length; i++) Atomics.compareExchange(secret, i, 0, random[i]! || 1);
}

/** The tag and state of entry `at`, read consistently (not mid hand-over); undefined when it stayed locked. */
function readEntry(table: Int32Array, at: number): [number, number] | undefined {
  for (let spins = 0; spins < 1e6; spins++) {
    const tag = Atomics.load(table, at);
    const state = Atomics.load(table, at + 1);
    if (state !== LOCKED && Atomics.load(table, at) === tag) return [tag, state];
  }
  return undefined;
}

/** One more in `window` for the entry at `at` if it still is `tag`'s; undefined when it changed hands. */
function bump(table: Int32Array, at: number, tag: number, window: number, limit: number): RateAnswer | undefined {
  for (;;) {
    const read = readEntry(table, at);
    if (!read || read[0] !== tag) return undefined;
    const state = read[1];
    const count = windowOf(state) === window ? countOf(state) : 0;
    if (count >= limit) return 'limited';
    if (Atomics.compareExchange(table, at + 1, state, pack(window, count + 1)) === state) return 'ok';
  }
}

/**
 * Counts one new connection of the address (`tag`, `start`) in window number `windowIndex`
 * (`floor(now / per)`): 'ok' when it is within `limit` (1..65535), 'limited' when the
 * window already counts `limit`, 'untracked' when the table has no entry for it.
 */
export function hit(table: Int32Array, tag: number, start: number, windowIndex: number, limit: number): RateAnswer {
  const window = windowIndex % WINDOWS;
  // First the address's own entry, wherever it sits among the probes.
  for (let probe = 0; probe < PROBES; probe++) {
    const at = ((start + probe) % RATE_ENTRIES) * 2;
    const read = readEntry(table, at);
    if (!read || read[0] === 0) break; // the end of the chain: entries are never emptied
    if (read[0] !== tag) continue;
    const answer = bump(table, at, tag, window, limit);
    if (answer) return answer;
  }
  // None: claim a free entry, or take over one whose window is over. A lost swap reads the
  // same entry again: the winner may have been another process taking it for this address.
  for (let probe = 0, tries = 0; probe < PROBES && tries < 4 * PROBES; tries++) {
    const at = ((start + probe) % RATE_ENTRIES) * 2;
    const read = readEntry(table, at);
    if (!read) {
      probe++;
      continue;
    }
    const [owner, state] = read;
    if (owner === 0) {
      if (Atomics.compareExchange(table, at, 0, tag) !== 0) continue;
    } else if (owner !== tag) {
      if (windowOf(state) === window) probe++; // another address's, in use: the next entry
      else if (Atomics.compareExchange(table, at + 1, state, LOCKED) === state) {
        Atomics.store(table, at, tag);
        Atomics.store(table, at + 1, pack(window, 1));
        return 'ok';
      }
      continue;
    }
    // Ours (claimed now, or by another process for the same address meanwhile).
    const answer = bump(table, at, tag, window, limit);
    if (answer) return answer;
  }
  Atomics.add(table, UNTRACKED, 1);
  return 'untracked';
}

/** Connections let through untracked since the table was made, by every process. */
export function untracked(table: Int32Array): number {
  return Atomics.load(table, UNTRACKED);
}
