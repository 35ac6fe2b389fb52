/**
 * Small JSON files in the state directory (node states, runtime changes).
 *
 * Writing is atomic: the text goes to a temporary file in the same folder, which is
 * fsynced, renamed over the target, and then the folder is fsynced. A crash or kill at any
 * moment leaves the old file or the new one whole, never a torn one; once the call returns,
 * the new one survives a power cut.
 *
 * Reading never throws and never loses state silently. A missing file is no state. A file
 * that cannot be read as its kind (not UTF-8, not JSON, the wrong shape at its top) is moved
 * aside as `<name>.corrupt-<time>` (kept for a person to look at), with a warning saying
 * what was lost, and the caller starts from nothing. Entries of the wrong shape in a file
 * that is otherwise good are left out, with a warning naming them; the file stays (the
 * next save writes it without them).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the warnings go (a Logger fits). */
export interface StateLog {
  warn(fields: object, message: string): void;
}

/** What one kind of state file holds and how it is checked. */
export interface StateFileKind<T> {
  /** The file's name in the state directory. */
  name: string;
  /** What a warning says when the file is lost: `the … it held are lost: …`. */
  lost: string;
  /** What a warning says about entries left out: `…; those …`. */
  dropped: string;
  empty(): T;
  /**
   * The value in `raw` (parsed JSON). Throws StateShapeError when `raw` is not this kind
   * of file at all; calls `drop(entry, why)` for each entry it leaves out.
   */
  fromJson(raw: unknown, drop: (entry: string, why: string) => void): T;
  /** The JSON body a save writes (a load of it gives the same value back). */
  toJson(value: T): unknown;
}

/** The parsed JSON is not this kind of file at all (fromJson throws it). */
export class StateShapeError extends Error {}

export interface ParsedState<T> {
  value: T;
  /** Why the file could not be read at all (then `value` is empty). */
  corrupt?: string;
  /** Entries left out, as `entry (why)`. */
  dropped: string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_SHOWN = 10;

/** A value as a short text for a message. */
export function preview(v: unknown, max = 60): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = Object.prototype.toString.call(v);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Bytes of a state file → its value: no I/O, never throws (what fuzzing drives). */
export function parseState<T>(bytes: Uint8Array, kind: StateFileKind<T>): ParsedState<T> {
  const dropped: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(bytes)); // a leading BOM is dropped by the decoder
  } catch (err) {
    const why = err instanceof TypeError ? 'not UTF-8 text' : (err as Error).message;
    return { value: kind.empty(), corrupt: why.slice(0, 200), dropped };
  }
  try {
    const value = kind.fromJson(raw, (entry, why) => dropped.push(`${preview(entry, 100)} (${why})`));
    return { value, dropped };
  } catch (err) {
    if (!(err instanceof StateShapeError)) throw err;
    return { value: kind.empty(), corrupt: err.message, dropped: [] };
  }
}

export interface ReadOptions {
  /** Move a corrupt file aside (default); false only warns (a worker process: the primary moves it). */
  setAside?: boolean;
  /** The clock for the set-aside name (tests). */
  now?: () => Date;
}

/** Read `kind`'s file in `dir`; see the header for what happens to a bad one. */
export function readStateFile<T>(dir: string, kind: StateFileKind<T>, log: StateLog = stderrLog, options: ReadOptions = {}): T {
  const file = path.join(dir, kind.name);
  const moveAside = options.setAside ?? true;
  if (moveAside) removeStaleTemps(dir, kind.name);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return kind.empty();
    log.warn({ file, err: (err as Error).message }, `${kind.name} could not be read (${code ?? (err as Error).message}); it is not used this time: ${after(kind.lost)}`);
    return kind.empty();
  }
  const parsed = parseState(bytes, kind);
  if (parsed.corrupt !== undefined) {
    let where: string;
    try {
      where = moveAside ? `set aside as ${path.basename(setAside(file, options.now?.()))}` : 'left in place (the primary process sets it aside)';
    } catch (err) {
      where = `could not be set aside (${(err as Error).message}); the next save replaces it`;
    }
    log.warn({ file, err: parsed.corrupt }, `${kind.name} could not be read (${parsed.corrupt}); ${where}; ${kind.lost}`);
  } else if (parsed.dropped.length > 0) {
    const n = parsed.dropped.length;
    const shown = parsed.dropped.slice(0, MAX_SHOWN).join(', ') + (n > MAX_SHOWN ? `, and ${n - MAX_SHOWN} more` : '');
    log.warn(
      { file, dropped: parsed.dropped.slice(0, MAX_SHOWN) },
      `${kind.name}: ${n} ${n === 1 ? 'entry' : 'entries'} of the wrong shape left out: ${shown}; ${kind.dropped}`,
    );
  }
  return parsed.value;
}

/** The part of a `lost` text after its colon: what happens instead. */
const after = (lost: string): string => lost.slice(lost.indexOf(':') + 1).trim();

/** Without a logger (tests, tools): a plain line on stderr, never silence. */
const stderrLog: StateLog = { warn: (_fields, message) => process.stderr.write(`warning: ${message}\n`) };

/** Write `kind`'s file in `dir`, atomically. */
export function writeStateFile<T>(dir: string, kind: StateFileKind<T>, value: T): void {
  writeJsonFile(path.join(dir, kind.name), kind.toJson(value));
}

let sequence = 0;

/** Write `value` as `file`, atomically (see the header); the folder is made when missing. */
export function writeJsonFile(file: string, value: unknown): void {
  const dir = path.dirname(file);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `${path.basename(file)}.${process.pid}-${++sequence}.tmp`);
  try {
    const fd = openSync(temp, 'w');
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Best effort: some systems cannot open a folder for fsync; the rename is done either way. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Nothing better to do: the file itself is complete.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Rename `file` to `<file>.corrupt-<ISO time, ':' as '-'>` (a free name); returns the new path. */
export function setAside(file: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/:/g, '-');
  let target = `${file}.corrupt-${stamp}`;
  for (let i = 2; existsSync(target); i++) target = `${file}.corrupt-${stamp}-${i}`;
  renameSync(file, target);
  fsyncDir(path.dirname(file));
  return target;
}

/** Temporary files a killed process left (`<name>.<pid>-<n>.tmp` of a pid not running). */
function removeStaleTemps(dir: string, name: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = entry.startsWith(`${name}.`) ? /^(\d+)-\d+\.tmp$/.exec(entry.slice(name.length + 1)) : null;
    if (!m || Number(m[1]) === process.pid || running(Number(m[1]))) continue;
    rmSync(path.join(dir, entry), { force: true });
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
