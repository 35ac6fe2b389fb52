/**
 * esbuild outputs kept on disk between runs, so that a start (or a worker's start) with
 * unchanged files spends no time bundling and never starts esbuild's helper process.
 * An entry is valid while every input file has the content it was bundled from: checked
 * by size and modification time first, and by a SHA-256 digest of the content when those
 * differ (a file written again with the same text stays a hit). The digests are of what
 * the bundler read (core/esbuild-inputs.ts), so an edit made during a build is never
 * taken for current. A cache that cannot be read or written only costs the rebuild: an
 * entry gone (another process pruned it) or damaged is a miss, never an error.
 *
 * Where: `PROTOBALANCE_CACHE_DIR`, else `node_modules/.cache/protobalance` in the package,
 * else a folder of the user's own (mode 0700) in the temp directory.
 * `PROTOBALANCE_CACHE=0` turns it off.
 */
import { accessSync, constants, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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

/** Size and modification time, to tell cheaply that a file is as it was. */
export function stamp(file: string): string {
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
    // Whatever happens here (the entry gone, damaged, another process's pruning) is a miss.
    try {
      const stored = read(file, fullKey);
      if (stored) {
        const stamps = stored.inputs.map(stamp);
        const same = stored.inputs.every((input, i) => stamps[i] === stored.stamps[i] || contentDigest(input) === stored.digests[i]);
        if (same) {
          inUse.add(file);
          // Same content under new times: remember the times, so the next start need not hash.
          if (stamps.some((s, i) => s !== stored.stamps[i])) save(file, { ...stored, stamps });
          else touch(file);
          return { code: stored.code, inputs: stored.inputs, digests: stored.digests, extra: stored.extra, cached: true };
        }
      }
    } catch {
      // build
    }
  }
  const built = await make();
  if (file && built.digests.length === built.inputs.length) {
    // Times are taken now; a file that changed since it was read (its digest differs)
    // makes an output that is used this once and not kept.
    const stamps = built.inputs.map(stamp);
    if (built.inputs.every((input, i) => contentDigest(input) === built.digests[i])) {
      inUse.add(file);
      if (save(file, { ...built, key: fullKey, stamps })) prune(base!);
    }
  }
  return { ...built, cached: false };
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * The entry for `fullKey`, or undefined when it is absent or is not a whole entry of this
 * shape (truncated by a full disk, written by hand, damaged): the caller then rebuilds.
 */
function read(file: string, fullKey: string): Stored | undefined {
  let v: Partial<Stored> | null;
  try {
    v = JSON.parse(readFileSync(file, 'utf8')) as Partial<Stored> | null;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || v.key !== fullKey || typeof v.code !== 'string') return undefined;
  if (!isStrings(v.inputs) || !isStrings(v.digests) || !isStrings(v.stamps)) return undefined;
  if (v.digests.length !== v.inputs.length || v.stamps.length !== v.inputs.length) return undefined;
  if (v.extra !== undefined && typeof v.extra !== 'string') return undefined;
  return v as Stored;
}

let temps = 0;

/**
 * Writes the whole entry to a file of this writer's own, then renames it over the entry:
 * readers in any process see the old entry or the new one, never part of one, and two
 * writers of one key each rename a whole file (the last wins; both are valid). The name
 * is unique per process and per write, and random beside that for threads sharing a pid.
 * True when stored.
 */
function save(file: string, stored: Stored): boolean {
  const temp = `${file}.${process.pid}.${++temps}${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    try {
      writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
    } catch (err) {
      // The folder was removed (a cleaned node_modules/.cache): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(temp, JSON.stringify(stored), { mode: 0o600 });
    }
    renameSync(temp, file);
    return true;
  } catch {
    // The cache is an optimisation only; leave no partial file behind.
    try {
      rmSync(temp, { force: true });
    } catch {
      // Pruning removes it once it is old.
    }
    return false;
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

/** A soft bound: entries in use or recently used are kept past it. */
const MAX_ENTRIES = 256;
/** Saves between pruning passes (a pass lists and stats the folder). */
const PRUNE_EVERY = MAX_ENTRIES / 4;
/**
 * Entries written or used by another process within this time are kept. Those processes'
 * in-use sets are not visible from here; a recent time is the sign of use they leave (every
 * hit touches its entry). The workers of one start, or `check` run beside `start`, are
 * minutes apart at most. An older entry of a long-running balancer may still go: its next
 * reload then rebuilds it, which is a miss, never an error.
 */
const RECENT_MS = 15 * 60_000;

/**
 * Entry files this process wrote or read since it started: pruning here never removes them,
 * however old. Why a set and not only an age: a balancer that has run for days with the
 * same config still needs its bundles at its next reload or runtime change, yet has not
 * touched them for days, and a config of 500 clusters alone holds more entries than
 * MAX_ENTRIES, so an age or count rule alone evicts a running config's bundles. The set
 * is not emptied when a generation goes (nothing tells the cache); it grows only with the
 * distinct bundles this process has built, a few dozen bytes each.
 */
const inUse = new Set<string>();

/** Saves since the last pruning pass, per cache folder. */
const saves = new Map<string, number>();

/** An entry in use is marked recent, so that other processes' pruning keeps it. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Only the pruning order suffers.
  }
}

/**
 * Past MAX_ENTRIES, the least recently used entries go, down to three quarters of it, except
 * those in use here or recently used anywhere (configs come and go). Other processes prune the
 * same folder at the same time: a file listed and gone by the time it is looked at is skipped.
 * Pruning never fails a build: every error here only leaves the folder larger.
 */
function prune(base: string): void {
  const count = (saves.get(base) ?? PRUNE_EVERY) + 1;
  saves.set(base, count);
  if (count < PRUNE_EVERY) return;
  try {
    const names = readdirSync(base);
    const json = names.filter((n) => n.endsWith('.json'));
    if (json.length <= MAX_ENTRIES) return;
    saves.set(base, 0);
    const now = Date.now();
    const aged: { file: string; t: number }[] = [];
    for (const n of names) {
      const file = path.join(base, n);
      if (inUse.has(file)) continue;
      let t: number;
      try {
        const s = lstatSync(file);
        if (!s.isFile()) continue;
        t = s.mtimeMs;
      } catch {
        continue; // removed by another process since the listing
      }
      if (now - t < RECENT_MS) continue;
      // A temporary file this old was left by a writer that died before its rename.
      if (n.endsWith('.tmp')) rmSync(file, { force: true });
      else if (n.endsWith('.json')) aged.push({ file, t });
    }
    aged.sort((a, b) => a.t - b.t);
    for (const { file } of aged.slice(0, json.length - (MAX_ENTRIES * 3) / 4)) rmSync(file, { force: true });
  } catch {
    // Unreadable folder, or a removal that failed: the next pass tries again.
  }
}
