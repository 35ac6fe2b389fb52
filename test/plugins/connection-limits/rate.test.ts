/**
 * The per-address rate table (plugins/connection-limits/rate.ts), on plain Int32Arrays:
 * counts per window, addresses apart, stale entries handed to new addresses, a full
 * neighbourhood failing open (counted), keyed hashing, and threads counting one address
 * at once over shared memory getting exactly the limit.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { addressKey, hit, PROBES, RATE_ENTRIES, RATE_LENGTH, seedSecret, untracked } from '../../../plugins/connection-limits/rate.ts';

const test = suite('connection-limits: client rate table');

const hits = (table: Int32Array, tag: number, start: number, window: number, limit: number, n: number) =>
  Array.from({ length: n }, () => hit(table, tag, start, window, limit));

test('an address gets `limit` per window, then is limited until the next window', () => {
  const table = new Int32Array(RATE_LENGTH);
  assert.equal(hits(table, 77, 5, 1000, 3, 5), ['ok', 'ok', 'ok', 'limited', 'limited']);
  assert.equal(hits(table, 77, 5, 1001, 3, 4), ['ok', 'ok', 'ok', 'limited'], 'a new window starts again');
  assert.equal(hits(table, 78, 5, 1001, 3, 3), ['ok', 'ok', 'ok'], 'another address (same start) counts apart');
  assert.equal(hits(table, 77, 5, 1001, 5, 3), ['ok', 'ok', 'limited'], 'a higher limit counts on from the same count');
  assert.is(untracked(table), 0);
});

test('windows far apart never read as the same one (16 bits of window, 65535 apart)', () => {
  const table = new Int32Array(RATE_LENGTH);
  assert.equal(hits(table, 9, 0, 1, 1, 2), ['ok', 'limited']);
  assert.equal(hits(table, 9, 0, 2, 1, 1), ['ok']);
  assert.equal(hits(table, 9, 0, 1 + 65535 * 3, 1, 2), ['ok', 'limited'], 'a window of the same remainder, but the entry has moved on');
});

test('a full neighbourhood fails open and is counted; once the window is over, its entries go to new addresses', () => {
  const table = new Int32Array(RATE_LENGTH);
  const start = RATE_ENTRIES - 3; // the probes wrap around the end of the table
  for (let tag = 1; tag <= PROBES; tag++) assert.is(hit(table, tag, start, 50, 10), 'ok');
  assert.is(hit(table, 999, start, 50, 10), 'untracked');
  assert.is(hit(table, 999, start, 50, 10), 'untracked');
  assert.is(untracked(table), 2);
  assert.is(hit(table, 3, start, 50, 2), 'ok', 'the owners still count in their window');
  assert.is(hit(table, 3, start, 50, 2), 'limited');
  // Window 51: the first stale entry goes to 999, whose count starts at 1.
  assert.equal(hits(table, 999, start, 51, 2, 3), ['ok', 'ok', 'limited']);
  assert.equal(hits(table, 2, start, 51, 2, 3), ['ok', 'ok', 'limited'], 'another former owner takes the next stale entry');
  assert.is(untracked(table), 2);
});

test('keys: the same secret and address give the same key in every process; another secret another key', () => {
  const secret = new Int32Array(4);
  seedSecret(secret);
  assert.ok(secret.every((w) => w !== 0));
  const copy = Int32Array.from(secret);
  seedSecret(secret);
  assert.equal([...secret], [...copy], 'a second process seeding keeps the first secret');
  const k = addressKey(secret, '192.0.2.1');
  assert.equal(addressKey(copy, '192.0.2.1'), k);
  assert.ok(k.tag !== 0 && k.start >= 0 && k.start < RATE_ENTRIES);
  assert.not.equal(addressKey(secret, '192.0.2.2'), k);
  const other = new Int32Array(4);
  seedSecret(other);
  assert.not.equal(addressKey(other, '192.0.2.1').tag, k.tag);
});

function contend(job: Record<string, unknown>): Promise<{ ok: number[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./contender.ts', import.meta.url), { workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

test('threads counting the same addresses at once get exactly the limit of each between them', async () => {
  const threads = 4;
  const table = new Int32Array(new SharedArrayBuffer(RATE_LENGTH * 4));
  const witness = new Int32Array(new SharedArrayBuffer(8));
  // 16 addresses whose starts crowd 4 entries (tag & 3): entries are claimed while others count,
  // and each still finds one among its 16 probes.
  const tags = Array.from({ length: 16 }, (_, i) => 1000 + i);
  const max = 500;
  const results = await Promise.all(
    Array.from({ length: threads }, () => contend({ mode: 'rate', threads, table, witness, tags, max, hits: 300 })),
  );
  const perAddress = tags.map((_, i) => results.reduce((t, r) => t + r.ok[i]!, 0));
  assert.equal(perAddress, tags.map(() => max), 'each address got exactly its limit (4 × 300 tries)');
  assert.is(untracked(table), 0);
});

test.run();
