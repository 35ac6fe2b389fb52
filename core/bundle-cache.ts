/**
 * esbuild outputs kept on disk between runs, so that a start (or a worker's start) with
 * unchanged files spends no time bundling and never starts esbuild's helper process.
 * An entry is valid while every input file has the size and modification time it had
 * when the entry was written; anything else rebuilds. A cache that cannot be read or
 * written only costs the rebuild.
 *
 * Where: `PROTOBALANCE_CACHE_DIR`, else `node_modules/.cache/protobalance` in the package,
 * else a folder of the user's own (mode 0700) in the temp directory.
 * `PROTOBALANCE_CACHE=0` turns it off.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from './paths.ts';
import { VERSION } from './version.ts';

export interface Built {
  code: string;
  /** Absolute paths of the files the output was made from. */
  inputs: string[];
  /** Anything else the maker wants back (a source map, say). */
  extra?: string;
}

interface Stored extends Built {
  key: string;
  stamps: string[];
}

let dir: string | null | undefined;
/** The settings `dir` was found for: it is looked for again when they change. */
let dirFor: string | undefined;
const MTIME_MARGIN_MS = 50;

function cacheDir(): string | null {
  const settings = `${process.env.PROTOBALANCE_CACHE ?? ''}\n${process.env.PROTOBALANCE_CACHE_DIR ?? ''}`;
  if (dir !== undefined && dirFor === settings) return dir;
  dirFor = settings;
  if (process.env.PROTOBALANCE_CACHE === '0') return (dir = null);
  const candidates = [
    process.env.PROTOBALANCE_CACHE_DIR,
    path.join(fileURLToPath(PACKAGE_ROOT), 'node_modules', '.cache', 'protobalance'),
    path.join(tmpdir(), `protobalance-cache-${safeUser()}`),
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      mkdirSync(c, { recursive: true, mode: 0o700 });
      accessSync(c, constants.W_OK);
      return (dir = c);
    } catch {
      // next
    }
  }
  return (dir = null);
}

function safeUser(): string {
  try {
    return String(userInfo().uid);
  } catch {
    return 'user';
  }
}

function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** `make()`'s output for `key`, from the cache when its inputs are unchanged. */
export async function cachedBuild(
  key: string,
  make: () => Promise<Built>,
  options: { dir?: string } = {},
): Promise<Built & { cached: boolean }> {
  const base = options.dir ?? cacheDir();
  const fullKey = `${VERSION}\n${key}`;
  const file = base && path.join(base, `${fnv1a(fullKey)}.json`);
  if (file) {
    try {
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Stored;
      if (stored.key === fullKey && stored.inputs.every((input, i) => stamp(input) === stored.stamps[i])) {
        touch(file);
        return { code: stored.code, inputs: stored.inputs, extra: stored.extra, cached: true };
      }
    } catch {
      // absent or unreadable: build
    }
  }
  const started = Date.now();
  const built = await make();
  // A file changed while it was being bundled may not be what the output holds: such an
  // output is used this once and not kept. File times come from a coarse kernel clock
  // (a few ms behind Date.now()), hence the margin.
  const fresh = built.inputs.every((input) => {
    try {
      return statSync(input).mtimeMs < started - MTIME_MARGIN_MS;
    } catch {
      return false;
    }
  });
  if (file && fresh) {
    try {
      const stored: Stored = { ...built, key: fullKey, stamps: built.inputs.map(stamp) };
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
      renameSync(temp, file);
      prune(base!);
    } catch {
      // The cache is an optimisation only.
    }
  }
  return { ...built, cached: false };
}

/**
 * A file name for a key (64-bit FNV-1a, hex): no crypto module at start-up. A collision
 * only costs a rebuild, since the stored entry carries its whole key.
 */
function fnv1a(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

const MAX_ENTRIES = 256;

/** An entry in use is marked recent, so that pruning keeps it. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Only the pruning order suffers.
  }
}

/** Past MAX_ENTRIES, the least recently used quarter goes (configs come and go). */
function prune(base: string): void {
  const names = readdirSync(base).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_ENTRIES) return;
  const aged = names
    .map((n) => ({ n, t: statSync(path.join(base, n)).mtimeMs }))
    .sort((a, b) => a.t - b.t)
    .slice(0, names.length - (MAX_ENTRIES * 3) / 4);
  for (const { n } of aged) rmSync(path.join(base, n), { force: true });
}
