/**
 * IP address text to numbers, without allocating: the per-connection path parses one
 * client address into a caller's scratch array, and rule parsing reuses the same code so
 * that what a rule means and what a client is are read by one parser.
 *
 * An address is 128 bits as four unsigned 32-bit words, most significant first, so that
 * comparisons are plain number comparisons (no BigInt). IPv4 addresses, and IPv6 ones in
 * the IPv4-mapped block `::ffff:0:0/96`, are family 4: their value is word 3. A dual-stack
 * socket reports an IPv4 client as `::ffff:a.b.c.d`; it must meet the same rules as
 * `a.b.c.d`.
 */

/** Not an address. */
export const INVALID = 0;
export const V4 = 4;
export const V6 = 6;
export type Family = typeof INVALID | typeof V4 | typeof V6;

/**
 * A dotted-quad IPv4 address in `s[from, to)` as an unsigned 32-bit number, or -1.
 * Strict: four decimal parts 0-255, no leading zeros (`010` reads as octal in some tools,
 * so it is refused rather than guessed), nothing else.
 */
export function parseIPv4(s: string, from: number, to: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return -1; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + part;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

// The eight 16-bit groups of the address being parsed. Parsing is synchronous and never
// re-entered, so one scratch array serves every call.
const groups = new Uint16Array(8);

/**
 * An IPv6 address in `s[0, to)` (RFC 4291 text: hex groups, one `::`, an optional dotted
 * IPv4 tail) into `out` as four words. False when it is not one.
 */
export function parseIPv6(s: string, to: number, out: Uint32Array): boolean {
  let n = 0;
  let gap = -1;
  let i = 0;
  if (to >= 2 && s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false; // a lone leading ':'
    gap = 0;
    i = 2;
  }
  while (i < to) {
    const start = i;
    let value = 0;
    let digits = 0;
    for (; i < to; i++) {
      const h = hexDigit(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      if (++digits > 4) return false;
    }
    if (i < to && s.charCodeAt(i) === 46) {
      // A dotted IPv4 tail: it takes the last two groups and ends the address.
      if (n > 6) return false;
      const v4 = parseIPv4(s, start, to);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = to;
      break;
    }
    if (digits === 0 || n === 8) return false;
    groups[n++] = value;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < to && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false; // a second '::'
      gap = n;
      i++;
    } else if (i === to) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  // Spread the groups after '::' to the end, zeros in between.
  for (let k = 0, w = 0; k < 8; k += 2, w++) {
    const hi = group(k, n, gap);
    const lo = group(k + 1, n, gap);
    out[w] = hi * 65536 + lo;
  }
  return true;
}

/** Group `k` of 8 once the `::` at `gap` (or none, -1) is expanded from the `n` parsed. */
function group(k: number, n: number, gap: number): number {
  if (gap < 0 || k < gap) return groups[k]!;
  const shifted = k - (8 - n);
  return shifted >= gap ? groups[shifted]! : 0;
}

/** True when the words are in `::ffff:0:0/96`, the IPv4-mapped block. */
export function isMapped(w: Uint32Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/**
 * An address (IPv4 or IPv6, a `%zone` suffix ignored) into `out`: its family, or INVALID.
 * For family 4 the IPv4 value is `out[3]` (and `out` reads as the mapped address).
 */
export function parseAddress(text: string, out: Uint32Array): Family {
  let to = text.indexOf('%');
  if (to < 0) to = text.length;
  if (text.indexOf(':') < 0) {
    const v4 = parseIPv4(text, 0, to);
    if (v4 < 0) return INVALID;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return V4;
  }
  if (!parseIPv6(text, to, out)) return INVALID;
  return isMapped(out) ? V4 : V6;
}
