/**
 * IP addresses as the PROXY protocol carries them: strict text forms in (v1 forbids heading
 * zeroes, zone ids and anything but dotted quads and hex groups), bytes for v2, and one
 * printed form out. The printed form is the one Node's sockets report (libuv's
 * inet_ntop: lower case, the longest run of zero groups as `::`, `::ffff:a.b.c.d` for an
 * IPv4-mapped address), so a client address taken from a header compares equal to the
 * same client's address read from a socket: affinity, client-hash and ACLs see one value.
 */

/** The four bytes of a strict dotted quad (`0`-`255`, no heading zero), or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Heading zeroes are refused by the spec: `010` could be read as octal by someone else.
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** The sixteen bytes of an IPv6 address in text (hex groups, one `::`, an optional dotted-quad tail), or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string, last: boolean): number[] | undefined => {
    if (half === '') return [];
    const words: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (last && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (!v4) return undefined;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        words.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const present = head.length + tail.length;
  // Without `::` the groups must make 128 bits exactly; with it, `::` stands for at least one group.
  if (halves.length === 1 ? present !== 8 : present > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - present).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

export function formatIPv4(bytes: Uint8Array, at = 0): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/** libuv's inet_ntop6, which is how Node prints a socket's IPv6 address. */
export function formatIPv6(bytes: Uint8Array, at = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      cur = cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
      if (cur.len > best.len) best = cur;
    } else {
      cur = { base: -1, len: 0 };
    }
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // An IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address ends in a dotted quad.
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      return out + formatIPv4(bytes, at + 12);
    }
    out += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

export type IpBytes = { family: 4; bytes: Uint8Array } | { family: 6; bytes: Uint8Array };

/**
 * An address as a socket reports it, as bytes to send: a zone id (`%eth0`) is dropped (no
 * PROXY header can carry one) and an IPv4-mapped IPv6 address is IPv4, which it is on the wire.
 */
export function ipBytes(address: string): IpBytes | undefined {
  const v4 = parseIPv4(address);
  if (v4) return { family: 4, bytes: v4 };
  const zone = address.indexOf('%');
  const v6 = parseIPv6(zone < 0 ? address : address.slice(0, zone));
  if (!v6) return undefined;
  if (isMapped(v6)) return { family: 4, bytes: v6.slice(12) };
  return { family: 6, bytes: v6 };
}

/** `::ffff:0:0/96`. */
function isMapped(v6: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (v6[i] !== 0) return false;
  return v6[10] === 0xff && v6[11] === 0xff;
}

/** IPv4 bytes as IPv4-mapped IPv6 bytes, for a header whose other address is IPv6. */
export function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}
