/**
 * esbuild outputs kept on disk between runs, so that a start (or a worker's start) with
 * unchanged files spends no time bundling and never starts esbuild's helper process.
 * An entry is valid while every input file has the content it was bundled from: checked
 * by size and modification time first, and by a SHA-256 digest of the content when those
 * differ (a file written again with the same text stays a hit). The digests are of what
 * the bundler read (core/esbuild-inputs.ts), so an edit made during a build is never
 * taken for current. A cache that cannot be read or written only costs the rebuild.
 *
 * Where: `PROTOBALANCE_CACHE_DIR`, else `node_modules/.cache/protobalance` in the package,
 * else a folder of the user's own (mode 0700) in the temp directory.
 * `PROTOBALANCE_CACHE=0` turns it off.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lazyBuiltin } from './lazy-builtin.ts';
import { PACKAGE_ROOT } from './paths.ts';
import { VERSION } from './version.ts';

export interface Built {
  code: string;
  /** Absolute paths of the files the output was made from. */
  inputs: string[];
  /** SHA-256 (hex) of each input's content as bundled, in the order of `inputs`. */
  digests: string[];
  /** Anything else the maker wants back (a source map, say). */
  extra?: string;
}

interface Stored extends Built {
  key: string;
  stamps: string[];
}

const crypto = lazyBuiltin<typeof import('node:crypto')>('node:crypto');

/** SHA-256 of `content`, hex (node:crypto loaded on first use: not on a start that hits). */
export function digest(content: Uint8Array | string): string {
  return crypto().createHash('sha256').update(content).digest('hex');
}

function contentDigest(file: string): string {
  try {
    return digest(readFileSync(file));
  } catch {
    return 'missing';
  }
}

let dir: string | null | undefined;
/** The settings `dir` was found for: it is looked for again when they change. */
let dirFor: string | undefined;

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
      if (stored.key === fullKey && Array.isArray(stored.digests)) {
        const stamps = stored.inputs.map(stamp);
        const same = stored.inputs.every((input, i) => stamps[i] === stored.stamps[i] || contentDigest(input) === stored.digests[i]);
        if (same) {
          // Same content under new times: remember the times, so the next start need not hash.
          if (stamps.some((s, i) => s !== stored.stamps[i])) save(file, { ...stored, stamps });
          else touch(file);
          return { code: stored.code, inputs: stored.inputs, digests: stored.digests, extra: stored.extra, cached: true };
        }
      }
    } catch {
      // absent or unreadable: build
    }
  }
  const built = await make();
  if (file && built.digests.length === built.inputs.length) {
    // Times are taken now; a file that changed since it was read (its digest differs)
    // makes an output that is used this once and not kept.
    const stamps = built.inputs.map(stamp);
    if (built.inputs.every((input, i) => contentDigest(input) === built.digests[i])) {
      save(file, { ...built, key: fullKey, stamps });
      prune(base!);
    }
  }
  return { ...built, cached: false };
}

function save(file: string, stored: Stored): void {
  try {
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // The cache is an optimisation only.
  }
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
