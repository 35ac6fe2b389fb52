/**
 * Networks (CIDR blocks and single addresses) and sets of them that answer "which rule
 * covers this address" in O(log n) with number comparisons only.
 *
 * Rules are parsed once per generation. Two CIDR blocks are either nested or disjoint,
 * so a set sorted by start (widest first on a tie) keeps only the outermost blocks,
 * which are then disjoint and sorted: a binary search for the last start at or below the
 * address, and one end check, finds the covering rule. Adjacent blocks are not merged, so
 * that the rule reported is always one that really covers the address.
 *
 * Families are separate: an IPv4 rule (or an IPv6 rule inside `::ffff:0:0/96`, which is
 * rewritten as IPv4) covers IPv4 clients only; any other IPv6 rule covers IPv6 clients
 * only, even one as wide as `::/0`, which is how operators read "deny ::/0" (no IPv6).
 */
import { isMapped, parseAddress, parseIPv4, parseIPv6, V4, V6 } from './address.ts';

export interface Network {
  /** The rule as written, for messages. */
  readonly text: string;
  readonly family: typeof V4 | typeof V6;
  /** First and last address of the block: for family 4 in word 3 only. */
  readonly start: Uint32Array;
  readonly end: Uint32Array;
}

/** The network a rule names, or the reason it names none (for `"x" is not a network: <reason>`). */
export function parseNetwork(text: string): Network | { error: string } {
  if (text === '') return { error: 'empty' };
  if (text.trim() !== text) return { error: 'spaces around it' };
  if (text.includes('%')) return { error: 'a zone index (%…) is not allowed' };
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const words = new Uint32Array(4);
  const family = parseAddress(addressText, words);
  if (family === 0) return { error: `${JSON.stringify(addressText)} is not an IPv4 or IPv6 address` };
  const v6Text = addressText.includes(':');
  const max = v6Text ? 128 : 32;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]*)$/.test(p)) return { error: `prefix ${JSON.stringify(p)} is not a whole number` };
    prefix = Number(p);
    if (prefix > max) return { error: `prefix over ${max}` };
  }
  // Bits of the 128-bit (mapped, for IPv4 text) address the prefix fixes.
  let bits = v6Text ? prefix : prefix + 96;
  const start = new Uint32Array(4);
  const end = new Uint32Array(4);
  for (let w = 0; w < 4; w++, bits -= 32) {
    const fixed = Math.max(0, Math.min(32, bits));
    const mask = fixed === 0 ? 0 : (0xffffffff << (32 - fixed)) >>> 0;
    start[w] = (words[w]! & mask) >>> 0;
    end[w] = (start[w]! | ~mask) >>> 0;
  }
  if (start.some((v, w) => v !== words[w])) {
    return { error: `host bits set (the network is ${show(start, family, v6Text, prefix)})` };
  }
  // IPv6 text inside the mapped block, at /96 or longer, is an IPv4 rule. Shorter
  // prefixes cannot get here: they would have the mapped block's ones as host bits.
  return { text, family: isMapped(start) && isMapped(end) ? V4 : V6, start, end };
}

function show(start: Uint32Array, family: number, v6Text: boolean, prefix: number): string {
  if (!v6Text && family === V4) {
    const v = start[3]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${prefix}`;
  }
  const groups: string[] = [];
  for (const w of start) groups.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  // The longest run of two or more zero groups becomes '::' (RFC 5952 text).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text = best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
  return `${text}/${prefix}`;
}

/** True when a ≤ b, comparing four-word addresses stored at offsets `ai` and `bi`. */
function lessOrEqual(a: Uint32Array, ai: number, b: Uint32Array, bi: number): boolean {
  for (let k = 0; k < 4; k++) {
    const x = a[ai + k]!;
    const y = b[bi + k]!;
    if (x !== y) return x < y;
  }
  return true;
}

/** One family's blocks: disjoint, sorted; starts and ends side by side. */
class Blocks {
  /** IPv4: one word per block; IPv6: four. */
  private readonly starts: Uint32Array;
  private readonly ends: Uint32Array;
  private readonly texts: string[];
  private readonly words: number;

  constructor(networks: Network[], family: typeof V4 | typeof V6) {
    this.words = family === V4 ? 1 : 4;
    const from = family === V4 ? 3 : 0;
    const sorted = networks
      .filter((n) => n.family === family)
      .sort((a, b) => compare(a.start, b.start) || compare(b.end, a.end));
    const kept: Network[] = [];
    for (const n of sorted) {
      const last = kept[kept.length - 1];
      // Nested or disjoint: a block starting inside the last kept one lies inside it.
      if (last && lessOrEqual(n.start, 0, last.end, 0)) continue;
      kept.push(n);
    }
    this.starts = new Uint32Array(kept.length * this.words);
    this.ends = new Uint32Array(kept.length * this.words);
    kept.forEach((n, i) => {
      this.starts.set(n.start.subarray(from), i * this.words);
      this.ends.set(n.end.subarray(from), i * this.words);
    });
    this.texts = kept.map((n) => n.text);
  }

  get size(): number {
    return this.texts.length;
  }

  /** The rule covering the IPv4 address `v`. */
  find4(v: number): string | undefined {
    const starts = this.starts;
    let lo = 0;
    let hi = this.texts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= v) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && v <= this.ends[at]! ? this.texts[at] : undefined;
  }

  /** The rule covering the IPv6 address in `w` (four words). */
  find6(w: Uint32Array): string | undefined {
    let lo = 0;
    let hi = this.texts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (lessOrEqual(this.starts, mid * 4, w, 0)) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at >= 0 && lessOrEqual(w, 0, this.ends, at * 4) ? this.texts[at] : undefined;
  }
}

function compare(a: Uint32Array, b: Uint32Array): number {
  for (let k = 0; k < 4; k++) if (a[k] !== b[k]) return a[k]! < b[k]! ? -1 : 1;
  return 0;
}

/** A list of networks, ready for lookups. */
export class NetworkSet {
  private readonly v4: Blocks;
  private readonly v6: Blocks;

  constructor(networks: Network[]) {
    this.v4 = new Blocks(networks, V4);
    this.v6 = new Blocks(networks, V6);
  }

  /** Blocks kept (nested ones dropped), for logs. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /**
   * The rule covering an address parsed by `parseAddress` (its family and words), or
   * undefined when none does.
   */
  find(family: typeof V4 | typeof V6, words: Uint32Array): string | undefined {
    return family === V4 ? this.v4.find4(words[3]!) : this.v6.find6(words);
  }
}

/**
 * Every entry of a rule list parsed, or the problems: one line per bad entry, each as
 * `[i]: "<entry>" is not a network: <reason>` (the caller puts the field path in front).
 * A value that is not a list is one problem, `expected a list of networks like […]`,
 * without the value: the core adds `, got <value>` to a check's message that starts with
 * `expected ` (docs/plugins.md, "Field specs").
 */
export const NOT_A_LIST = 'expected a list of networks like ["10.0.0.0/8", "2001:db8::/32"]';

export function parseNetworks(value: unknown): { networks: Network[]; problems: string[] } {
  if (!Array.isArray(value)) return { networks: [], problems: [NOT_A_LIST] };
  const networks: Network[] = [];
  const problems: string[] = [];
  value.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string') {
      problems.push(`[${i}]: expected a network like "10.0.0.0/8" or an address, got ${describe(entry)}`);
      return;
    }
    const n = parseNetwork(entry);
    if ('error' in n) problems.push(`[${i}]: ${JSON.stringify(entry)} is not a network: ${n.error}`);
    else networks.push(n);
  });
  return { networks, problems };
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

// Re-exported for the plugin and its tests: one import site for address parsing.
export { parseAddress, parseIPv4, parseIPv6, V4, V6 };
