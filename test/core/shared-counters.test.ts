/**
 * Counters shared by the processes of a group (core/shared-counters.ts): exact across
 * processes, one slot per name agreed without talking, a segment left behind replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachSharedCounters, createSharedCounters, HEAP_BYTES, localCounters } from '../../core/shared-counters.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ADDER = fileURLToPath(new URL('../helpers/counter-adder.ts', import.meta.url));

/** Run the adder in a child: `times` increments of counter `name` on segment `key` (or of an array's int32, `mode`). */
function adder(key: number, name: string, times: number, mode = ''): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = fork(ADDER, [String(key), name, String(times), mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: number[] = [];
    child.on('message', (m) => (got = m as number[]));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(got) : reject(new Error(`adder exited ${code}`))));
  });
}

test('two processes and this one count as one: every number once', async () => {
  const { counters, why } = createSharedCounters(tmpDir());
  assert.is(why, undefined, 'shm-typed-array is installed (an optional dependency)');
  assert.ok(counters.shared);
  try {
    const mine = counters.counter('web');
    const other = counters.counter('mail');
    assert.equal([mine.next(), mine.next(), other.next()], [0, 1, 0]);
    const [a, b] = await Promise.all([adder(counters.key!, 'web', 20_000), adder(counters.key!, 'web', 20_000)]);
    const all = [0, 1, ...a!, ...b!].sort((x, y) => x - y);
    assert.is(all.length, 40_002);
    assert.ok(all.every((v, i) => v === i), 'no number twice, none missing');
    assert.is(mine.next(), 40_002);
    assert.is(other.next(), 1, 'another name, another slot');
  } finally {
    counters.close();
  }
});

test('a segment a killed balancer left is removed at the next start; one whose primary runs is not', () => {
  const dir = tmpDir();
  // A primary that ran and is gone (its pid is dead), its segment never closed: as after SIGKILL.
  const killed = createSharedCounters(dir).counters;
  killed.counter('web').next();
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  writeFileSync(path.join(dir, 'shared-counters.json'), JSON.stringify({ pid: dead, key: killed.key }));
  const next = createSharedCounters(dir).counters;
  try {
    assert.ok(next.shared);
    assert.is(next.counter('web').next(), 0, 'a fresh table');
    assert.is(attachSharedCounters(killed.key).shared, false, 'the killed one is gone');
    // A second start on the same folder while this one runs (it may fail to listen): this
    // one's segment stays, and the record stays this one's. (The record names another
    // running process, as it would for a second `protobalance start`.)
    writeFileSync(path.join(dir, 'shared-counters.json'), JSON.stringify({ pid: process.ppid, key: next.key }));
    const second = createSharedCounters(dir).counters;
    assert.ok(attachSharedCounters(next.key).shared, 'the running one is untouched');
    second.close();
    assert.ok(attachSharedCounters(next.key).shared, 'closing the second one leaves it too');
    assert.is(next.counter('web').next(), 1);
  } finally {
    next.close();
  }
});

test('a named int32 array is the same memory in every process, apart from counters and other arrays', async () => {
  const { counters } = createSharedCounters(tmpDir(), 2);
  try {
    assert.is(counters.slot, 0);
    assert.is(counters.slots, 2);
    const limits = counters.int32('limits', 8);
    const other = counters.int32('other', 3);
    assert.ok(counters.sharedArray('limits'));
    assert.equal([...limits], [0, 0, 0, 0, 0, 0, 0, 0], 'zeroed when first made');
    counters.counter('limits').next();
    Atomics.add(limits, 2, 5);
    // Two processes add to the same int32 as this one: exact, and they see what this one wrote.
    const [a, b] = await Promise.all([adder(counters.key!, 'limits', 20_000, 'array:8:3'), adder(counters.key!, 'limits', 20_000, 'array:8:3')]);
    Atomics.add(limits, 3, 1);
    assert.is(Atomics.load(limits, 3), 40_001, 'no increment lost');
    assert.is(a![2], 5);
    assert.is(b![2], 5);
    assert.equal([...other], [0, 0, 0], 'another array, other memory');
    assert.is(counters.int32('limits', 8), limits, 'asked again: the same array');
    assert.throws(() => counters.int32('limits', 9), /exists with 8 int32s, not 9/);
    assert.throws(() => counters.int32('x', 0), /length must be a whole number/);
    const attached = attachSharedCounters(counters.key, 1, 2);
    assert.is(attached.slot, 1);
    assert.is(Atomics.load(attached.int32('limits', 8), 3), 40_001, 'a worker attaching later finds it');
    attached.close();
  } finally {
    counters.close();
  }
});

test('arrays beyond the shared room are per process, and say so', () => {
  const { counters } = createSharedCounters(tmpDir(), 2);
  try {
    const big = counters.int32('big', HEAP_BYTES / 4 - 16);
    assert.ok(counters.sharedArray('big'));
    const over = counters.int32('over', 64);
    assert.is(counters.sharedArray('over'), false);
    Atomics.add(over, 0, 1);
    assert.is(over[0], 1, 'still usable, in this process');
    assert.is(big.length, HEAP_BYTES / 4 - 16);
  } finally {
    counters.close();
  }
});

test('without a key, or a segment that is gone, a worker counts alone', () => {
  assert.is(attachSharedCounters(undefined).shared, false);
  assert.is(attachSharedCounters(12345).shared, false);
  const local = localCounters();
  const c = local.counter('x');
  assert.equal([c.next(), c.next()], [0, 1]);
  assert.is(local.sharedArray('a'), false);
  assert.is(local.int32('a', 2).length, 2);
});

test.run();
