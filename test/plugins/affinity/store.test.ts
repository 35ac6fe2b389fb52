import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import path from 'node:path';
import { SqliteAffinityStore, type SqliteStoreOptions } from '../../../plugins/affinity/sqlite-store.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const DAY = 86_400_000;

/** A store on a fresh file, with a clock the test moves. */
function open(options: Partial<SqliteStoreOptions> = {}) {
  const clock = { t: 1_700_000_000_000 };
  const file = options.file ?? path.join(tmpDir(), 'state', 'affinity.db');
  const errors: string[] = [];
  const store = new SqliteAffinityStore({
    file,
    now: () => clock.t,
    onError: (err, what) => errors.push(`${what}: ${String(err)}`),
    ...options,
  });
  return { store, file, clock, errors };
}

function rows(file: string, cluster?: string): { client: string; node: string; seen: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    const sql = 'SELECT client, node, seen FROM affinity' + (cluster ? ' WHERE cluster = ?' : '') + ' ORDER BY seen, client';
    return db.prepare<unknown[], { client: string; node: string; seen: number }>(sql).all(...(cluster ? [cluster] : []));
  } finally {
    db.close();
  }
}

const test = suite('affinity: SQLite store');

test('get answers what set stored; delete removes it; other clusters are apart', () => {
  const { store } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    store.configure('mail', { ttl: DAY, maxEntries: 10 });
    assert.is(store.get('web', '10.0.0.1'), undefined);
    store.set('web', '10.0.0.1', 'a');
    store.set('mail', '10.0.0.1', 'x');
    assert.is(store.get('web', '10.0.0.1'), 'a');
    assert.is(store.get('mail', '10.0.0.1'), 'x');
    store.set('web', '10.0.0.1', 'b');
    assert.is(store.get('web', '10.0.0.1'), 'b');
    store.delete('web', '10.0.0.1');
    assert.is(store.get('web', '10.0.0.1'), undefined);
    assert.is(store.get('mail', '10.0.0.1'), 'x');
    // A cluster never configured is ignored.
    store.set('other', '10.0.0.1', 'z');
    assert.is(store.get('other', '10.0.0.1'), undefined);
  } finally {
    store.close();
  }
});

test('writes are queued and written in one flush; the file is in WAL mode', () => {
  const { store, file } = open();
  store.configure('web', { ttl: DAY, maxEntries: 10 });
  store.set('web', '10.0.0.1', 'a');
  store.set('web', '10.0.0.1', 'b'); // coalesced with the first
  store.set('web', '10.0.0.2', 'a');
  assert.is(store.pendingWrites, 2);
  assert.equal(rows(file), []);
  store.flush();
  assert.is(store.pendingWrites, 0);
  assert.equal(
    rows(file).map((r) => [r.client, r.node]),
    [['10.0.0.1', 'b'], ['10.0.0.2', 'a']],
  );
  store.close();
  const db = new Database(file, { readonly: true });
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
});

test('the flush timer writes on its own, shortly after', async () => {
  const { store, file } = open({ flushInterval: 20, now: Date.now });
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    store.set('web', '10.0.0.1', 'a');
    const deadline = Date.now() + 2000;
    while (rows(file).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.is(rows(file).length, 1);
  } finally {
    store.close();
  }
});

test('close writes what is queued; a new store on the file loads it', () => {
  const { store, file, clock } = open();
  store.configure('web', { ttl: DAY, maxEntries: 10 });
  store.set('web', '10.0.0.1', 'a');
  clock.t += 1000;
  store.set('web', '::1', 'b');
  store.close();
  assert.is(store.isOpen, false);
  store.close(); // twice is harmless
  const again = new SqliteAffinityStore({ file, now: () => clock.t });
  try {
    assert.is(again.get('web', '10.0.0.1'), undefined); // not configured yet
    again.configure('web', { ttl: DAY, maxEntries: 10 });
    assert.is(again.get('web', '10.0.0.1'), 'a');
    assert.is(again.get('web', '::1'), 'b');
    assert.is(again.size('web'), 2);
  } finally {
    again.close();
  }
});

test('ttl runs from last seen: expired bindings are not returned, and are pruned', () => {
  const { store, file, clock } = open();
  try {
    store.configure('web', { ttl: 1000, maxEntries: 10 });
    store.set('web', 'old', 'a');
    store.set('web', 'fresh', 'b');
    clock.t += 600;
    store.set('web', 'fresh', 'b'); // seen again: its ttl starts over
    store.flush();
    clock.t += 600; // old: 1200 ms ago; fresh: 600 ms ago
    assert.is(store.get('web', 'old'), undefined);
    assert.is(store.get('web', 'fresh'), 'b');
    store.flush();
    assert.equal(rows(file).map((r) => r.client), ['fresh']);
    clock.t += 500; // fresh: 1100 ms ago, expired; never asked for: pruning drops it
    store.prune();
    assert.is(store.size('web'), 0);
    assert.equal(rows(file), []);
  } finally {
    store.close();
  }
});

test('expired rows are pruned at load and never loaded', () => {
  const { store, file, clock } = open();
  store.configure('web', { ttl: 1000, maxEntries: 10 });
  store.set('web', 'a', 'n0');
  clock.t += 800;
  store.set('web', 'b', 'n1');
  store.close();
  clock.t += 500; // a: 1300 ms ago, b: 500 ms ago
  const again = new SqliteAffinityStore({ file, now: () => clock.t });
  try {
    again.configure('web', { ttl: 1000, maxEntries: 10 });
    assert.is(again.size('web'), 1);
    assert.is(again.get('web', 'b'), 'n1');
    assert.equal(rows(file).map((r) => r.client), ['b']);
  } finally {
    again.close();
  }
});

test('size bound: 5,000 distinct addresses with maxEntries 100 keep the 100 most recent, in memory and on disk', () => {
  const { store, file, clock } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 100 });
    store.configure('mail', { ttl: DAY, maxEntries: 100 });
    store.set('mail', 'keep-me', 'x'); // another cluster's bound is its own
    const started = process.hrtime.bigint();
    for (let i = 0; i < 5000; i++) {
      clock.t += 1;
      store.set('web', `10.0.${i >> 8}.${i & 255}`, `n${i % 3}`);
      assert.ok(store.size('web') <= 100);
    }
    const queued = process.hrtime.bigint();
    store.flush();
    const flushed = process.hrtime.bigint();
    console.log(
      `    5,000 sets: ${(Number(queued - started) / 1e6).toFixed(1)} ms; flush of ${5000 + 1} queued writes: ${(Number(flushed - queued) / 1e6).toFixed(1)} ms`,
    );
    const stored = rows(file, 'web');
    assert.ok(stored.length <= 100, `${stored.length} rows`);
    assert.is(stored.length, 100);
    assert.is(store.size('web'), 100);
    const expected = Array.from({ length: 100 }, (_, k) => 4900 + k).map((i) => `10.0.${i >> 8}.${i & 255}`);
    assert.equal(stored.map((r) => r.client), expected);
    assert.is(store.get('web', '10.0.19.135'), 'n1'); // i = 4999, the newest
    assert.is(store.get('web', '10.0.19.35'), undefined); // i = 4899, pushed out
    assert.is(store.get('mail', 'keep-me'), 'x');
    assert.is(rows(file, 'mail').length, 1);
  } finally {
    store.close();
  }
});

test('a binding used again is recent again: it survives a flood that pushes older ones out', () => {
  const { store, file, clock } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    store.set('web', 'regular', 'n0');
    for (let i = 0; i < 50; i++) {
      clock.t += 1;
      store.set('web', `flood-${i}`, 'n1');
      if (i % 5 === 0) store.set('web', 'regular', 'n0'); // the regular client comes back
    }
    store.flush();
    assert.is(store.get('web', 'regular'), 'n0');
    assert.ok(rows(file, 'web').some((r) => r.client === 'regular'));
    assert.is(rows(file, 'web').length, 10);
  } finally {
    store.close();
  }
});

test('rows beyond the bound written by another process are trimmed, least recently seen first', () => {
  const { store, file, clock } = open();
  store.configure('web', { ttl: DAY, maxEntries: 1000 });
  for (let i = 0; i < 300; i++) {
    clock.t += 1;
    store.set('web', `c${String(i).padStart(3, '0')}`, 'n0');
  }
  store.close();
  // Another process (or an older config) with a smaller bound opens the same file.
  const other = new SqliteAffinityStore({ file, now: () => clock.t });
  try {
    other.configure('web', { ttl: DAY, maxEntries: 50 });
    assert.is(other.size('web'), 50);
    const left = rows(file, 'web').map((r) => r.client);
    assert.is(left.length, 50);
    assert.is(left[0], 'c250');
    assert.is(left[49], 'c299');
    // A second writer adding rows past the bound: the next flush trims.
    const db = new Database(file);
    const insert = db.prepare('INSERT INTO affinity (cluster, client, node, seen) VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 20; i++) insert.run('web', `w${i}`, 'n1', clock.t + 10 + i);
    db.close();
    assert.is(rows(file, 'web').length, 70);
    clock.t += 100;
    other.set('web', 'c299', 'n0');
    other.flush();
    const after = rows(file, 'web');
    assert.is(after.length, 50);
    assert.ok(!after.some((r) => r.client === 'c250'));
    assert.ok(after.some((r) => r.client === 'w0'));
  } finally {
    other.close();
  }
});

test('a smaller maxEntries on reconfigure pushes the oldest out', () => {
  const { store, file, clock } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    for (let i = 0; i < 10; i++) {
      clock.t += 1;
      store.set('web', `c${i}`, 'n0');
    }
    store.configure('web', { ttl: DAY, maxEntries: 4 });
    assert.is(store.size('web'), 4);
    assert.is(store.get('web', 'c5'), undefined);
    assert.is(store.get('web', 'c6'), 'n0');
    store.flush();
    assert.equal(rows(file, 'web').map((r) => r.client), ['c6', 'c7', 'c8', 'c9']);
  } finally {
    store.close();
  }
});

test('unload keeps the rows but frees the memory', () => {
  const { store, file } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    store.set('web', 'a', 'n0');
    store.unload('web');
    assert.is(store.size('web'), 0);
    assert.is(store.get('web', 'a'), undefined);
    assert.is(rows(file, 'web').length, 1);
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    assert.is(store.get('web', 'a'), 'n0');
  } finally {
    store.close();
  }
});

test('a failing write stays queued and is retried; the error is reported', () => {
  const { store, file, errors } = open();
  try {
    store.configure('web', { ttl: DAY, maxEntries: 10 });
    // Another connection holds the write lock: our flush gets SQLITE_BUSY after busyTimeout.
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    store.set('web', 'a', 'n0');
    store.flush();
    assert.is(store.pendingWrites, 1);
    assert.is(errors.length, 1);
    assert.match(errors[0]!, /retrying/);
    other.exec('ROLLBACK');
    other.close();
    store.flush();
    assert.is(store.pendingWrites, 0);
    assert.is(rows(file, 'web').length, 1);
    assert.is(store.get('web', 'a'), 'n0'); // memory answered throughout
  } finally {
    store.close();
  }
});

test('a file from a newer schema is refused', () => {
  const file = path.join(tmpDir(), 'affinity.db');
  const db = new Database(file);
  db.pragma('user_version = 99');
  db.close();
  assert.throws(() => new SqliteAffinityStore({ file }), /schema version 99/);
});

test.run();
