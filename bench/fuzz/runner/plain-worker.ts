/**
 * The worker of the plain fallback (runner/plain.ts): calls the target's `fuzz(data)` in a
 * loop with random inputs and mutations of the seeds. NOT coverage-guided: nothing learns
 * which inputs reach new code. Before each call the input is copied to shared memory, so
 * that the main thread can save it if the call hangs; a throw is posted as a crash.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

interface Data {
  target: string;
  seeds: Uint8Array[];
  maxLen: number;
  seed: number;
  /** Int32: [0] calls done, [1] length of the input running, [2] 1 = stop. */
  control: SharedArrayBuffer;
  current: SharedArrayBuffer;
}

const d = workerData as Data;
const control = new Int32Array(d.control);
const current = new Uint8Array(d.current);
const mod = (await import(pathToFileURL(d.target).href)) as { fuzz: (data: Buffer) => unknown };

let state = d.seed >>> 0 || 1;
/** xorshift32: a number in [0, n). */
function rnd(n: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % Math.max(1, n);
}

const TOKENS = ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', '-1', '0', '.5', '1e400', '::', '%', 'ms', 's', 'm', 'd', '65535', '65536',
  '__proto__', 'constructor', '\\u0000', 'listeners', 'clusters', 'nodes', 'address', 'port', 'id', '/', '%zz', 'Bearer '].map((t) => Buffer.from(t));
const seeds = d.seeds.length > 0 ? d.seeds : [new Uint8Array()];

function randomInput(): Uint8Array {
  const out = new Uint8Array(rnd(Math.min(d.maxLen, 64) + 1));
  for (let i = 0; i < out.length; i++) out[i] = rnd(4) === 0 ? rnd(256) : 32 + rnd(95);
  return out;
}

function mutate(input: Uint8Array): Uint8Array {
  let b = Array.from(input);
  for (let n = 1 + rnd(4); n > 0; n--) {
    const at = rnd(b.length + 1);
    switch (rnd(6)) {
      case 0: if (b.length > 0) b[at % b.length]! ^= 1 << rnd(8); break;
      case 1: if (b.length > 0) b[at % b.length] = rnd(256); break;
      case 2: b.splice(at, 0, ...TOKENS[rnd(TOKENS.length)]!); break;
      case 3: b.splice(at, 1 + rnd(8)); break;
      case 4: b.splice(at, 0, ...b.slice(at, at + 1 + rnd(16))); break;
      default: {
        const other = seeds[rnd(seeds.length)]!;
        const from = rnd(other.length + 1);
        b = [...b.slice(0, at), ...other.slice(from, from + 1 + rnd(32))];
      }
    }
  }
  return Uint8Array.from(b.slice(0, d.maxLen));
}

while (Atomics.load(control, 2) === 0) {
  const input = rnd(4) === 0 ? randomInput() : mutate(seeds[rnd(seeds.length)]!);
  current.set(input);
  Atomics.store(control, 1, input.length);
  try {
    const r = mod.fuzz(Buffer.from(input));
    if (r instanceof Promise) await r;
  } catch (err) {
    parentPort!.postMessage({ input, message: (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0] });
  }
  Atomics.add(control, 0, 1);
}
