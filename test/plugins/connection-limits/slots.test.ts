/**
 * The shared counts behind the node, listener and queue limits (plugins/connection-limits/
 * slots.ts), on plain Int32Arrays: claims stop at the limit, entries are found alike by
 * every process, a replacement process gives back what the dead one held, and threads
 * claiming at once over shared memory never pass the limit nor stop short of it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { NAMES, rowsLength, SharedLimits, TABLE_LENGTH, entryOf } from '../../../plugins/connection-limits/slots.ts';

const test = suite('connection-limits: shared slots');

function memory(slots: number, shared = false) {
  const make = (n: number) => (shared ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n));
  return { table: make(TABLE_LENGTH), rows: make(rowsLength(slots)) };
}

test('claims stop at the limit; a release frees one; counts and rows agree', () => {
  const { table, rows } = memory(2);
  const a = new SharedLimits(table, rows, 0);
  const b = new SharedLimits(table, rows, 1);
  const e = a.entry('web/a');
  assert.is(b.entry('web/a'), e, 'every process finds the same entry for a name');
  assert.ok(a.claim(e, 3));
  assert.ok(b.claim(e, 3));
  assert.ok(a.claim(e, 3));
  assert.not.ok(b.claim(e, 3), 'the fourth of 3 is refused');
  assert.is(a.count(e), 3);
  assert.is(a.held(e), 2);
  assert.is(b.held(e), 1);
  const before = a.releases(e);
  b.release(e);
  assert.is(a.releases(e), before + 1, 'a release is seen by the sequence');
  assert.ok(b.claim(e, 3), 'the freed slot is taken again');
  assert.not.ok(a.claim(e, 3));
  assert.ok(a.claim(e, 4), 'a higher limit (after a reload) lets one more in');
});

test('names get distinct entries, stable in a second view of the same memory; a full table says -1', () => {
  const { table } = memory(1);
  const seen = new Set<number>();
  for (let i = 0; i < NAMES; i++) seen.add(entryOf(table, `c/n${i}`));
  assert.is(seen.size, NAMES, 'every name its own entry');
  assert.ok(!seen.has(-1));
  assert.is(entryOf(table, 'c/n7'), entryOf(table, 'c/n7'));
  assert.is(entryOf(table, 'one too many'), -1, 'a full table');
});

test('a replacement process (same slot) gives back what the dead one held, and only that', () => {
  const { table, rows } = memory(2);
  const primary = new SharedLimits(table, rows, 0);
  const dead = new SharedLimits(table, rows, 1);
  const node = primary.entry('web/a');
  const queue = primary.entry('queue:web');
  for (let i = 0; i < 2; i++) assert.ok(primary.claim(node, 10));
  for (let i = 0; i < 5; i++) assert.ok(dead.claim(node, 10));
  assert.ok(dead.claim(queue, 10));
  const releases = primary.releases(node);
  const replacement = new SharedLimits(table, rows, 1);
  assert.is(replacement.recover(), 6);
  assert.is(primary.count(node), 2, 'the primary still holds its 2');
  assert.is(primary.count(queue), 0);
  assert.is(replacement.held(node), 0, 'the row is empty');
  assert.ok(primary.releases(node) > releases, 'waiters can tell that slots were freed');
  assert.is(replacement.recover(), 0, 'a second recover gives nothing back');
  assert.is(primary.count(node), 2);
});

function contend(job: Record<string, unknown>): Promise<{ claimed: number; peak: number; held: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./contender.ts', import.meta.url), { workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`contender exited ${code}`))));
  });
}

test('threads claiming and releasing at once over shared memory never hold more than the limit', async () => {
  const threads = 4;
  const { table, rows } = memory(threads, true);
  const witness = new Int32Array(new SharedArrayBuffer(8));
  const entry = entryOf(table, 'web/a');
  const max = 5;
  const results = await Promise.all(
    Array.from({ length: threads }, (_, slot) =>
      contend({ mode: 'slots', threads, table, rows, witness, slot, entry, max, rounds: 1_000_000, seed: slot + 1 }),
    ),
  );
  const peak = Math.max(...results.map((r) => r.peak));
  assert.ok(peak <= max, `never more than ${max} held at once (peak ${peak})`);
  assert.is(peak, max, 'the limit was reached (the test contended)');
  assert.ok(results.filter((r) => r.claimed > 0).length >= 3, `at least 3 threads held slots (claims: ${results.map((r) => r.claimed).join(', ')})`);
  const view = new SharedLimits(table, rows, 0);
  assert.is(view.count(entry), 0, 'every claim was given back');
  for (let slot = 0; slot < threads; slot++) assert.is(new SharedLimits(table, rows, slot).held(entry), 0);
});

test('threads grabbing at once get exactly the limit between them', async () => {
  for (const max of [1, 7, 1000]) {
    const threads = 4;
    const { table, rows } = memory(threads, true);
    const witness = new Int32Array(new SharedArrayBuffer(8));
    const entry = entryOf(table, 'web/a');
    const results = await Promise.all(
      Array.from({ length: threads }, (_, slot) => contend({ mode: 'grab', threads, table, rows, witness, slot, entry, max, rounds: 1e6, seed: 1 })),
    );
    assert.is(results.reduce((t, r) => t + r.claimed, 0), max, `exactly ${max} claimed`);
    assert.is(new SharedLimits(table, rows, 0).count(entry), max);
    const rowsSum = results.reduce((t, _, slot) => t + new SharedLimits(table, rows, slot).held(entry), 0);
    assert.is(rowsSum, max, 'the rows add up to the total');
  }
});

test.run();
