/**
 * Counters shared by the processes of a group (core/shared-counters.ts): exact across
 * processes, one slot per name agreed without talking, a segment left behind replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { attachSharedCounters, createSharedCounters, localCounters } from '../../core/shared-counters.ts';
import { tmpDir } from '../helpers/tmp.ts';

const ADDER = fileURLToPath(new URL('../helpers/counter-adder.ts', import.meta.url));

/** Run the adder in a child: `times` increments of counter `name` on segment `key`. */
function adder(key: number, name: string, times: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = fork(ADDER, [String(key), name, String(times)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

test('a segment a killed balancer left is replaced at the next start', () => {
  const dir = tmpDir();
  const first = createSharedCounters(dir).counters;
  first.counter('web').next();
  // No close: as after SIGKILL.
  const second = createSharedCounters(dir).counters;
  try {
    assert.ok(second.shared);
    assert.is(second.counter('web').next(), 0, 'a fresh table');
  } finally {
    second.close();
  }
});

test('without a key, or a segment that is gone, a worker counts alone', () => {
  assert.is(attachSharedCounters(undefined).shared, false);
  assert.is(attachSharedCounters(12345).shared, false);
  const c = localCounters().counter('x');
  assert.equal([c.next(), c.next()], [0, 1]);
});

test.run();
