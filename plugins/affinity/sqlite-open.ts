/**
 * Opening the affinity database: its schema, its statements, and what happens to a file
 * that is not a usable affinity database.
 *
 * A file SQLite cannot read (SQLITE_CORRUPT, SQLITE_NOTADB) or whose tables are not ours
 * (the schema cannot be made or the statements not prepared on it) is renamed to
 * `affinity.db.corrupt-<ISO time, ':' as '-'>`, with its `-wal` and `-shm`, and a new
 * database is made in its place: bindings persist again at once. The caller is told what
 * was lost. A file from a newer version of Proto Balance (a higher `user_version`) is not
 * damaged: it is refused, never set aside, so that going back to the newer version finds
 * it. Errors of the disk or of locking (busy, read-only, I/O, full) are not the file's
 * fault and are thrown as they are.
 */
import { createRequire } from 'node:module';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';

/** Loaded on first use: a balancer without affinity never loads the native module. */
let openDatabase: typeof Database | undefined;
const require = createRequire(import.meta.url);

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS affinity (
  cluster TEXT NOT NULL,
  client  TEXT NOT NULL,
  node    TEXT NOT NULL,
  seen    INTEGER NOT NULL,
  PRIMARY KEY (cluster, client)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS affinity_seen ON affinity (cluster, seen);
CREATE TABLE IF NOT EXISTS affinity_count (
  cluster TEXT PRIMARY KEY,
  rows    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS affinity_inserted AFTER INSERT ON affinity BEGIN
  INSERT INTO affinity_count (cluster, rows) VALUES (new.cluster, 1)
    ON CONFLICT (cluster) DO UPDATE SET rows = rows + 1;
END;
CREATE TRIGGER IF NOT EXISTS affinity_deleted AFTER DELETE ON affinity BEGIN
  UPDATE affinity_count SET rows = rows - 1 WHERE cluster = old.cluster;
END;
`;

function prepareStatements(db: Database.Database) {
  type Row = { cluster: string; client: string; node: string; seen: number };
  return {
    upsert: db.prepare<Row>(
      `INSERT INTO affinity (cluster, client, node, seen) VALUES (@cluster, @client, @node, @seen)
       ON CONFLICT (cluster, client) DO UPDATE SET node = excluded.node, seen = excluded.seen`,
    ),
    remove: db.prepare<[string, string]>('DELETE FROM affinity WHERE cluster = ? AND client = ?'),
    prune: db.prepare<[string, number]>('DELETE FROM affinity WHERE cluster = ? AND seen < ?'),
    count: db.prepare<[string], { rows: number }>('SELECT rows FROM affinity_count WHERE cluster = ?'),
    trim: db.prepare<{ cluster: string; excess: number }>(
      `DELETE FROM affinity WHERE cluster = @cluster AND client IN (
         SELECT client FROM affinity WHERE cluster = @cluster ORDER BY seen, client LIMIT @excess)`,
    ),
    one: db.prepare<[string, string], { node: string; seen: number }>('SELECT node, seen FROM affinity WHERE cluster = ? AND client = ?'),
    load: db.prepare<{ cluster: string; since: number; limit: number }, Omit<Row, 'cluster'>>(
      `SELECT client, node, seen FROM affinity WHERE cluster = @cluster AND seen >= @since
       ORDER BY seen DESC, client DESC LIMIT @limit`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

export interface OpenDatabase {
  db: Database.Database;
  sql: Statements;
  /** The file's inode when opened (0 for `:memory:`): tells whether the path still names it. */
  ino: number;
}

/**
 * The file is there but is no usable affinity database. Its connection is still open: the
 * file is renamed first, so that closing does not checkpoint into it or delete its -wal.
 */
class UnusableDatabase extends Error {
  constructor(
    message: string,
    readonly db: Database.Database,
    options: ErrorOptions,
  ) {
    super(message, options);
  }
}

const sqliteCode = (err: unknown): string => String((err as { code?: unknown } | null)?.code ?? '');

/** SQLite found the file damaged, or it is no SQLite file. */
export const isCorruption = (err: unknown): boolean => /^SQLITE_(CORRUPT|NOTADB)/.test(sqliteCode(err));

/** One attempt: open, check the version, make the schema, prepare the statements. */
function openOnce(file: string, busyTimeout: number): OpenDatabase {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  openDatabase ??= require('better-sqlite3') as typeof Database;
  const db = new openDatabase(file, { timeout: busyTimeout });
  let schema = false;
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== 0 && version !== SCHEMA_VERSION) {
      throw new Error(`${file} has schema version ${version}; this version of Proto Balance knows ${SCHEMA_VERSION}`);
    }
    schema = true;
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    const sql = prepareStatements(db);
    return { db, sql, ino: file === ':memory:' ? 0 : statSync(file).ino };
  } catch (err) {
    if (isCorruption(err)) throw new UnusableDatabase((err as Error).message, db, { cause: err });
    // Tables of another shape: "no such column", "ON CONFLICT clause does not match…".
    if (schema && sqliteCode(err) === 'SQLITE_ERROR') throw new UnusableDatabase(`its tables are not an affinity table (${(err as Error).message})`, db, { cause: err });
    db.close();
    throw err;
  }
}

/**
 * Open `file`; one that is no usable affinity database is set aside and replaced, and
 * `warn` hears what happened. Other failures are thrown.
 */
export function openAffinityDatabase(file: string, busyTimeout: number, warn: (err: unknown, what: string) => void): OpenDatabase {
  try {
    return openOnce(file, busyTimeout);
  } catch (err) {
    if (!(err instanceof UnusableDatabase)) throw err;
    let aside: string;
    try {
      if (file === ':memory:') throw err.cause;
      aside = setAsideDatabase(file);
    } finally {
      err.db.close();
    }
    warn(err.cause, setAsideMessage(file, err.message, aside));
    return openOnce(file, busyTimeout);
  }
}

/**
 * After SQLite reported damage on an open database (which the caller closes after this):
 * set the file aside unless the path names another file by now (another process of the
 * group set it aside first), and open what is there. Connections still open on the old
 * file (this one, other processes') are harmless: SQLite (3.22 and later) neither
 * checkpoints into nor deletes the WAL of a file renamed while open, so closing them leaves
 * the new file's -wal and -shm alone.
 */
export function reopenAfterCorruption(file: string, busyTimeout: number, ino: number, err: unknown, warn: (err: unknown, what: string) => void): OpenDatabase {
  let now: number | undefined;
  try {
    now = statSync(file).ino;
  } catch {
    // Gone: a new one is made.
  }
  if (now === ino) warn(err, setAsideMessage(file, (err as Error).message, setAsideDatabase(file), true));
  return openAffinityDatabase(file, busyTimeout, warn);
}

/** The inode the path names now (undefined when missing): a changed one means the file was replaced. */
export function currentInode(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}

function setAsideMessage(file: string, why: string, aside: string, inMemoryKept = false): string {
  const name = path.basename(file);
  const lost = inMemoryKept ? `lost, except those in memory, which go to a new ${name}` : `lost: clients are bound anew in a new ${name}`;
  return `${name} could not be read (${why}); set aside as ${path.basename(aside)}; the client bindings it held are ${lost}`;
}

/** Rename `file` (and its -wal, -shm) to a free `<file>.corrupt-<time>` name; returns it. */
export function setAsideDatabase(file: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/:/g, '-');
  let target = `${file}.corrupt-${stamp}`;
  for (let i = 2; existsSync(target); i++) target = `${file}.corrupt-${stamp}-${i}`;
  renameSync(file, target);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(file + suffix)) renameSync(file + suffix, target + suffix);
  }
  try {
    const fd = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort: the renames are done.
  }
  return target;
}
