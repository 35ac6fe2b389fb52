/**
 * A damaged affinity database (plugins/affinity/sqlite-open.ts): garbage bytes, tables of
 * another shape, or pages SQLite finds malformed later are set aside as
 * `affinity.db.corrupt-<time>` (with -wal and -shm), a warning says what was lost, a new
 * database is made, and bindings persist again, across a restart.
 */
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net, { type Server } from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../../../core/index.ts';
import { setAsideDatabase } from '../../../plugins/affinity/sqlite-open.ts';
import { SqliteAffinityStore } from '../../../plugins/affinity/sqlite-store.ts';
import { oneCluster, startBalancer } from '../../helpers/balancer.ts';
import { addr, closeServer, startServer, answerFrom, answersFrom } from '../../helpers/net.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const DAY = 86_400_000;
const LIMITS = { ttl: 30 * DAY, maxEntries: 100_000 };

function open(file: string) {
  const errors: string[] = [];
  const store = new SqliteAffinityStore({ file, onError: (_err, what) => errors.push(what) });
  return { store, errors };
}

const asideOf = (dir: string) => readdirSync(dir).filter((f) => /^affinity\.db\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/.test(f));

/** Store `bindings` in cluster `web`, close, open again: what comes back. */
function survivesRestart(file: string, bindings: Record<string, string>): Record<string, string | undefined> {
  const first = open(file);
  first.store.configure('web', LIMITS);
  for (const [client, node] of Object.entries(bindings)) first.store.set('web', client, node);
  first.store.close();
  const again = open(file);
  again.store.configure('web', LIMITS);
  const back = Object.fromEntries(Object.keys(bindings).map((c) => [c, again.store.get('web', c)]));
  again.store.close();
  assert.equal(again.errors, [], 'the new file opens cleanly');
  return back;
}

const test = suite('affinity: a damaged database is set aside and a new one made');

test('garbage bytes in affinity.db (and its -wal): set aside whole, a warning, a new file where bindings persist', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const garbage = randomBytes(16_384);
  writeFileSync(file, garbage);
  writeFileSync(`${file}-wal`, randomBytes(4096));
  const { store, errors } = open(file);
  store.configure('web', LIMITS);
  store.set('web', '10.0.0.1', 'a');
  store.close();
  assert.is(errors.length, 1);
  assert.match(errors[0]!, /^affinity\.db could not be read \(file is not a database\); set aside as affinity\.db\.corrupt-\S+; the client bindings it held are lost: clients are bound anew in a new affinity\.db$/);
  const [aside] = asideOf(dir);
  assert.ok(aside && errors[0]!.includes(aside), 'the warning names the file set aside');
  assert.equal(readFileSync(path.join(dir, aside!)), garbage, 'its bytes are kept');
  assert.ok(existsSync(path.join(dir, `${aside}-wal`)), 'its -wal went with it');
  assert.equal(survivesRestart(file, { '10.0.0.2': 'b' }), { '10.0.0.2': 'b' });
  const again = open(file);
  again.store.configure('web', LIMITS);
  assert.is(again.store.get('web', '10.0.0.1'), 'a', 'the binding made right after the set-aside was persisted');
  again.store.close();
});

test('tables of another shape: set aside, a new one made', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const db = new Database(file);
  db.exec("CREATE TABLE affinity (who TEXT, what TEXT); INSERT INTO affinity VALUES ('x', 'y')");
  db.close();
  const { store, errors } = open(file);
  store.close();
  assert.is(errors.length, 1);
  assert.match(errors[0]!, /^affinity\.db could not be read \(its tables are not an affinity table \(.*\)\); set aside as affinity\.db\.corrupt-/);
  assert.is(asideOf(dir).length, 1);
  assert.equal(survivesRestart(file, { '10.0.0.1': 'a' }), { '10.0.0.1': 'a' });
});

test('a file of a newer schema is not damaged: refused, and left where it is', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const db = new Database(file);
  db.pragma('user_version = 99');
  db.close();
  assert.throws(() => open(file), /schema version 99/);
  assert.equal(asideOf(dir), []);
  assert.ok(existsSync(file));
});

test('pages SQLite finds malformed while serving: set aside then, the bindings in memory go to the new file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const seed = open(file);
  seed.store.configure('aweb', LIMITS);
  seed.store.configure('zmail', LIMITS);
  for (let i = 0; i < 5; i++) seed.store.set('aweb', `10.0.0.${i}`, `n${i}`);
  seed.store.flush();
  for (let i = 0; i < 20_000; i++) seed.store.set('zmail', `10.1.${i >> 8}.${i & 255}`, 'm');
  seed.store.close();

  const { store, errors } = open(file);
  store.configure('aweb', LIMITS);
  assert.is(store.size('aweb'), 5);
  // The second half of the file (zmail's pages) overwritten under the open store.
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  for (let at = Math.floor(size / 8192) * 4096; at < size; at += 4096) writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, at);
  closeSync(fd);
  store.configure('zmail', LIMITS);
  store.set('aweb', '10.9.9.9', 'n9');
  store.close();
  assert.is(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /^affinity\.db could not be read \(database disk image is malformed\); set aside as affinity\.db\.corrupt-\S+; the client bindings it held are lost, except those in memory, which go to a new affinity\.db$/);
  assert.is(asideOf(dir).length, 1);
  const back = open(file);
  back.store.configure('aweb', LIMITS);
  assert.equal([back.store.size('aweb'), back.store.get('aweb', '10.0.0.3'), back.store.get('aweb', '10.9.9.9')], [6, 'n3', 'n9']);
  back.store.close();
});

test('another process sharing the file moves to the new one at its next flush', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const a = open(file);
  const b = open(file);
  for (const s of [a, b]) {
    s.store.shareWithOtherProcesses();
    s.store.configure('web', LIMITS);
  }
  // `a` found the file damaged: closed it, set it aside and made a new one (sqlite-open.ts).
  a.store.close();
  const aside = setAsideDatabase(file);
  const c = open(file);
  c.store.configure('web', LIMITS);
  b.store.set('web', '10.0.0.7', 'b');
  b.store.flush();
  b.store.close();
  c.store.close();
  assert.equal([b.errors, c.errors], [[], []]);
  const old = new Database(aside, { readonly: true });
  assert.equal(old.prepare('SELECT client FROM affinity').all(), [], 'nothing written to the file set aside');
  old.close();
  const back = open(file);
  back.store.configure('web', LIMITS);
  assert.is(back.store.get('web', '10.0.0.7'), 'b', 'the other process wrote to the new file');
  back.store.close();
});

test('property: any bytes as affinity.db: the store opens, and a binding then survives a restart', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'affinity.db');
  const header = Buffer.from('SQLite format 3\u0000');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.boolean(), (bytes, withHeader) => {
      for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { force: true });
      writeFileSync(file, withHeader ? Buffer.concat([header, bytes]) : bytes);
      assert.equal(survivesRestart(file, { '10.0.0.1': 'a' }), { '10.0.0.1': 'a' });
    }),
    { numRuns: 60 },
  );
});

test.run();

// ─── through a balancer ─────────────────────────────────────────────────────

const balancer = suite('affinity: a balancer started on a damaged database');


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

balancer('garbage in affinity.db before start: a warning, set aside, and a binding made afterwards survives a restart', async () => {
  const servers: Server[] = [];
  for (let i = 0; i < 2; i++) servers.push(await startServer((socket) => socket.end(`n${i}`)));
  const stateDir = tmpDir();
  writeFileSync(path.join(stateDir, 'affinity.db'), randomBytes(8192));
  const config: Config = { ...oneCluster(servers.map(addr), { affinity: { enabled: true } }), stateDir };
  try {
    const first = await startBalancer(config);
    let bound: string;
    try {
      await answerFrom(first.port, '127.0.0.1');
      bound = await answerFrom(first.port, '127.0.0.2');
      const warned = first.logger.lines.filter((l) => (l.level === 'warn' || l.level === 'error') && /affinity/.test(l.msg)).map((l) => l.msg);
      assert.is(warned.length, 1, warned.join('\n'));
      assert.match(warned[0]!, /^affinity store: affinity\.db could not be read \(file is not a database\); set aside as affinity\.db\.corrupt-/);
      await sleep(400); // past the flush interval
    } finally {
      await first.stop();
    }
    assert.is(asideOf(stateDir).length, 1);
    const db = new Database(path.join(stateDir, 'affinity.db'), { readonly: true });
    const rows = db.prepare("SELECT client, node FROM affinity WHERE cluster = 'c' ORDER BY client").all();
    db.close();
    assert.equal(rows, [{ client: '127.0.0.1', node: 'n0' }, { client: '127.0.0.2', node: bound! }]);
    const again = await startBalancer(config);
    try {
      // Round robin alone would alternate; the binding answers every time.
      assert.equal(await answersFrom(again.port, '127.0.0.2', 3), [bound!, bound!, bound!]);
      assert.equal(again.logger.lines.filter((l) => (l.level === 'warn' || l.level === 'error') && /affinity/.test(l.msg)), []);
    } finally {
      await again.stop();
    }
  } finally {
    for (const s of servers) await closeServer(s);
  }
});

balancer.run();
