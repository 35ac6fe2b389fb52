/**
 * SHA-256 and HMAC-SHA-256 in plain JavaScript, for algorithms that must run where no
 * Node `crypto` exists (the sandbox). Inputs are UTF-8 strings. Checked against
 * node:crypto in the tests.
 *
 * Speed matters here (client-hash hashes every new client address inside a sandbox call),
 * so the keyed hasher absorbs the key's pads once, reuses its buffers, and a short message
 * (≤ 55 bytes) costs two compressions, one for the message and one outer: ≈ 1 µs warm,
 * against ≈ 10 µs for the allocating version this replaced.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** One compression: `state` (8 words) absorbs the 16 big-endian words in w[0..15]. */
function compress(state: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!;
    const b = w[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  let e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/** Absorb `data` (whole message, `prefix` bytes already absorbed into `state`) with padding. */
function finish(state: Int32Array, data: Uint8Array, length: number, prefix: number, w: Int32Array): void {
  const bits = (prefix + length) * 8;
  const blocks = (length + 9 + 63) >> 6;
  for (let blk = 0, at = 0; blk < blocks; blk++) {
    for (let i = 0; i < 16; i++, at += 4) {
      let word = 0;
      for (let j = 0; j < 4; j++) {
        const p = at + j;
        word = (word << 8) | (p < length ? data[p]! : p === length ? 0x80 : 0);
      }
      w[i] = word;
    }
    if (blk === blocks - 1) {
      w[14] = Math.floor(bits / 0x100000000) | 0;
      w[15] = bits | 0;
    }
    compress(state, w);
  }
}

export function sha256(data: Uint8Array): Uint8Array {
  const state = Int32Array.from(IV);
  finish(state, data, data.length, 0, new Int32Array(64));
  return wordsToBytes(state);
}

function wordsToBytes(words: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const x = words[i]!;
    out[i * 4] = x >>> 24;
    out[i * 4 + 1] = (x >>> 16) & 255;
    out[i * 4 + 2] = (x >>> 8) & 255;
    out[i * 4 + 3] = x & 255;
  }
  return out;
}

/**
 * A keyed hasher that writes HMAC-SHA-256(key, message) as 8 big-endian words into
 * out[at..at+7] (unsigned values if `out` is a Uint32Array). Not reentrant: it reuses buffers.
 */
export function hmacSha256Words(key: string): (message: string, out: Uint32Array | Int32Array, at?: number) => void {
  let k = utf8(key);
  if (k.length > 64) k = sha256(k);
  const w = new Int32Array(64);
  const pad = new Uint8Array(64);
  const innerStart = Int32Array.from(IV);
  const outerStart = Int32Array.from(IV);
  for (const [start, x] of [[innerStart, 0x36], [outerStart, 0x5c]] as const) {
    for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ x;
    for (let i = 0; i < 16; i++) w[i] = (pad[i * 4]! << 24) | (pad[i * 4 + 1]! << 16) | (pad[i * 4 + 2]! << 8) | pad[i * 4 + 3]!;
    compress(start, w);
  }
  const state = new Int32Array(8);
  let bytes = new Uint8Array(64);
  return (message, out, at = 0) => {
    // UTF-8 into the reused buffer: one byte per char for the usual ASCII ids and addresses.
    let n = 0;
    if (bytes.length < message.length * 4) bytes = new Uint8Array(message.length * 4);
    for (let i = 0; i < message.length; i++) {
      const c = message.charCodeAt(i);
      if (c < 0x80) bytes[n++] = c;
      else {
        const enc = utf8(message.slice(i));
        bytes.set(enc, n);
        n += enc.length;
        break;
      }
    }
    state.set(innerStart);
    finish(state, bytes, n, 64, w);
    // Outer: the pads (absorbed), then the 32-byte inner digest, padded: one block.
    for (let i = 0; i < 8; i++) w[i] = state[i]!;
    w[8] = 0x80000000;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = (64 + 32) * 8;
    state.set(outerStart);
    compress(state, w);
    for (let i = 0; i < 8; i++) out[at + i] = state[i]!;
  };
}

/** A keyed hasher: the key's pads are prepared once, each call hashes one message. */
export function hmacSha256(key: string): (message: string) => Uint8Array {
  const mac = hmacSha256Words(key);
  const words = new Int32Array(8);
  return (message) => {
    mac(message, words);
    return wordsToBytes(words);
  };
}
