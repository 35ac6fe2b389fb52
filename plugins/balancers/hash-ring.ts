/**
 * The consistent-hash ring behind client-hash (see client-hash.ts for the contract).
 *
 * Node points. A node's points depend only on its id and a ring key (the first 64 bits of
 * HMAC-SHA-256(secret, 'ring')), so every balancer and process builds the same ring from
 * the same ids and factors, in any candidate order. From the id, a murmur3-style mix
 * seeded with the ring key gives two words a, b; point j is fmix32(a + j × (b | 1)),
 * distinct for every j. Why not an HMAC per node: in a fresh isolate (V8 still cold) 5,000
 * of them took 30–55 ms, over the 50 ms a sandbox call may take; this mix costs ≈ 1 ms.
 * Node points need no secrecy (ids are no secret either): what keeps clients from aiming
 * at a node is that a client's own place is an HMAC under the secret (client-hash.ts).
 *
 * How many points: a node gets about k × loadFactor of them (at least one), where
 * k = min(K_MAX, TOTAL_POINTS / sum of factors). A node's share of the ring strays from
 * its factor by about 1 / √points, so small clusters (factors summing to 16 or less) get
 * the full K_MAX = 4,096 per unit of factor (±1.6 % for a factor-1 node), and the total
 * stays near TOTAL_POINTS = 2^16 so that building the ring at 5,000 nodes stays inside one
 * 50 ms sandbox call with room to spare: a first build, V8 still cold, measured 20–31 ms
 * for the whole call (of which 10–15 are the host's for any new 5,000-node candidate
 * set); 2^17 points measured 30–44 ms, too close. The price at that size: 13 points per
 * unit of factor when 5,000 nodes have factor 1, so a node's share strays by ≈ ±28 %
 * (1 σ); rendezvous hashing was exact but cost an HMAC per node per pick. The fractional part of k × factor is rounded up or
 * down by a per-node draw, so as k drifts with the cluster's total only a few nodes gain
 * or lose a point at a time, never all of them at once.
 */
import { hmacSha256Words } from './sha256.ts';

export const K_MAX = 4096;
export const TOTAL_POINTS = 2 ** 16;
const TWO_POW_32 = 2 ** 32;

export interface Ring {
  /** Node ids; `owner` indexes into this. */
  readonly ids: readonly string[];
  /** Point positions, ascending (ties ordered by owner id). */
  readonly pos: Uint32Array;
  readonly owner: Int32Array;
}

/** How many points a node of factor `f` gets at density `k`: `u` in [0, 1) rounds the fraction. */
export function pointCount(k: number, f: number, u: number): number {
  const factor = Number.isFinite(f) && f > 0 ? f : 0;
  return Math.max(1, Math.floor(k * factor + u));
}

export function ringBuilder(secret: string): (ids: readonly string[], factors: ArrayLike<number>) => Ring {
  const ringKey = new Uint32Array(8);
  hmacSha256Words(secret)('ring', ringKey);
  return (ids, factors) => {
    const n = ids.length;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const f = factors[i]!;
      if (Number.isFinite(f) && f > 0) total += f;
    }
    const k = total > 0 ? Math.min(K_MAX, TOTAL_POINTS / total) : 1;
    // Every node's two words and point count, then all points in one flat loop and one
    // sort: long loops, which V8 compiles early even in a fresh isolate.
    const keys = new Uint32Array(n * 2);
    const counts = new Int32Array(n);
    let size = 0;
    for (let i = 0; i < n; i++) {
      const a = mix(ids[i]!, ringKey[0]!);
      const b = mix(ids[i]!, ringKey[1]!);
      keys[i * 2] = a;
      keys[i * 2 + 1] = b;
      size += counts[i] = pointCount(k, factors[i]!, fmix32(a ^ 0x5bd1e995) / TWO_POW_32);
    }
    const pos = new Uint32Array(size);
    const owner = new Int32Array(size);
    placeAll(keys, counts, pos, owner);
    const sorted = sortPoints(pos, owner, ids);
    return { ids: ids.slice(), pos: sorted.pos, owner: sorted.owner };
  };
}

/** Node i's points (words a, b at keys[2i], keys[2i + 1]): fmix32(a + j × (b | 1)). */
function placeAll(keys: Uint32Array, counts: Int32Array, pos: Uint32Array, owner: Int32Array): void {
  for (let i = 0, at = 0; i < counts.length; i++) {
    const a = keys[i * 2]!;
    const step = keys[i * 2 + 1]! | 1;
    for (let j = 0, c = counts[i]!; j < c; j++, at++) {
      pos[at] = fmix32((a + Math.imul(j, step)) | 0);
      owner[at] = i;
    }
  }
}

/** murmur3's body over the id's UTF-16 units, seeded, then its finalizer: a 32-bit word. */
function mix(id: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < id.length; i++) {
    let c = Math.imul(id.charCodeAt(i), 0xcc9e2d51);
    c = Math.imul((c << 15) | (c >>> 17), 0x1b873593);
    h ^= c;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ id.length);
}

/** murmur3's finalizer: a bijection on 32 bits that spreads every input bit. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Sort the points by position (equal positions, ≈ 0.5 per ring of 2^16, by owner id so that
 * candidate order cannot matter): positions are uniform, so one counting pass by the top
 * 16 bits leaves buckets of about one, finished by insertion. O(n), and cheaper than a
 * full radix sort while V8 is still cold.
 */
function sortPoints(pos: Uint32Array, owner: Int32Array, ids: readonly string[]): { pos: Uint32Array; owner: Int32Array } {
  const n = pos.length;
  const start = new Int32Array(65537);
  for (let i = 0; i < n; i++) start[(pos[i]! >>> 16) + 1]!++;
  for (let d = 1; d <= 65536; d++) start[d] = start[d]! + start[d - 1]!;
  const outPos = new Uint32Array(n);
  const outOwner = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const p = pos[i]!;
    const at = start[p >>> 16]!++;
    outPos[at] = p;
    outOwner[at] = owner[i]!;
  }
  // Buckets now hold their points; the top bits ordered the buckets, so insertion over the
  // whole array only moves points within their bucket.
  for (let i = 1; i < n; i++) {
    const p = outPos[i]!;
    const o = outOwner[i]!;
    let j = i - 1;
    while (j >= 0 && (outPos[j]! > p || (outPos[j] === p && ids[outOwner[j]!]! > ids[o]!))) {
      outPos[j + 1] = outPos[j]!;
      outOwner[j + 1] = outOwner[j]!;
      j--;
    }
    outPos[j + 1] = p;
    outOwner[j + 1] = o;
  }
  return { pos: outPos, owner: outOwner };
}

/** The index of the point owning `hash`: the first at or after it, wrapping. */
export function lookup(ring: Ring, hash: number): number {
  const pos = ring.pos;
  let lo = 0;
  let hi = pos.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pos[mid]! < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === pos.length ? 0 : lo;
}

/**
 * Every node once, in the order met walking clockwise from `start`: the fall-over order.
 * Cost: until the last node is met, which may be most of the ring (≤ 2^16 + n steps; 4–13
 * ms for the whole sandbox call at 5,000 nodes, most of it handing back 5,000 ids); it
 * runs only when a connection falls over.
 */
export function walk(ring: Ring, start: number): string[] {
  const n = ring.ids.length;
  const seen = new Uint8Array(n);
  const out: string[] = [];
  const size = ring.pos.length;
  for (let s = 0; s < size && out.length < n; s++) {
    const o = ring.owner[(start + s) % size]!;
    if (seen[o] === 0) {
      seen[o] = 1;
      out.push(ring.ids[o]!);
    }
  }
  return out;
}
