/**
 * The local wait list of the queue (plugins/connection-limits/queue.ts): a freed slot
 * wakes the oldest waiter for that node (one, not all), the poll wakes as many as there is
 * room, a waiter that lost its race keeps its place, and waiting ends at the deadline or
 * when the client leaves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WaitList, type WaitAnswer } from '../../../plugins/connection-limits/queue.ts';

const test = suite('connection-limits: wait list');

const a = { key: 'web/a' };
const b = { key: 'web/b' };

/** Promises with what they settled to so far. */
function track(p: Promise<WaitAnswer>) {
  const t = { answer: undefined as WaitAnswer | undefined };
  void p.then((x) => (t.answer = x));
  return t;
}
const tick = () => new Promise((r) => setImmediate(r));

test('a freed slot wakes the oldest waiter watching that node, and only one', async () => {
  const room = new Map([['web/a', 0], ['web/b', 0]]);
  const list = new WaitList((n) => room.get(n.key)!, 0);
  const first = track(list.wait(1, [a, b], 60_000));
  const second = track(list.wait(2, [a], 60_000));
  const onlyB = track(list.wait(3, [b], 60_000));
  assert.not.ok(list.freed(a), 'no room on a yet: nobody wakes');
  room.set('web/a', 1);
  assert.ok(list.freed(a));
  await tick();
  assert.is(first.answer, 'retry', 'the oldest watching a');
  assert.is(second.answer, undefined);
  assert.is(onlyB.answer, undefined);
  room.set('web/b', 1);
  assert.ok(list.freed(b));
  await tick();
  assert.is(onlyB.answer, 'retry', 'b wakes the one watching b, not the older one watching only a');
  assert.is(second.answer, undefined);
  assert.is(list.length, 1);
  list.clear();
  await tick();
  assert.is(second.answer, 'gone');
});

test('a waiter that waits again with its first number goes before the younger ones', async () => {
  const room = new Map([['web/a', 0]]);
  const list = new WaitList((n) => room.get(n.key)!, 0);
  const younger = track(list.wait(5, [a], 60_000));
  const again = track(list.wait(2, [a], 60_000));
  room.set('web/a', 1);
  list.freed(a);
  await tick();
  assert.is(again.answer, 'retry');
  assert.is(younger.answer, undefined);
  list.cancel(5);
  await tick();
  assert.is(younger.answer, 'gone', 'a client that left stops waiting');
  assert.is(list.length, 0);
});

test('the poll wakes as many waiters as the nodes have room, oldest first', async () => {
  const room = new Map([['web/a', 0], ['web/b', 0]]);
  const list = new WaitList((n) => room.get(n.key)!, 0);
  const w = [1, 2, 3, 4].map((seq) => track(list.wait(seq, seq === 3 ? [b] : [a], 60_000)));
  assert.is(list.poll(), 0);
  room.set('web/a', 2);
  room.set('web/b', 1);
  assert.is(list.poll(), 3);
  await tick();
  assert.equal(w.map((t) => t.answer), ['retry', 'retry', 'retry', undefined], 'two for a, one for b; the third for a waits');
  list.clear();
});

test('a waiter is told timeout at its deadline; a polling list polls by itself while someone waits', async () => {
  let asked = 0;
  const list = new WaitList(() => (asked++, 0), 2);
  const started = Date.now();
  assert.is(await list.wait(1, [a], 60), 'timeout');
  assert.ok(Date.now() - started >= 55, 'not before its deadline');
  assert.ok(asked > 0, 'the shared counts were polled meanwhile');
  const after = asked;
  await new Promise((r) => setTimeout(r, 30));
  assert.is(asked, after, 'no poll once nobody waits');
  let free = 0;
  const polled = new WaitList(() => free, 2);
  const waiting = polled.wait(1, [a], 60_000);
  setTimeout(() => (free = 1), 20);
  assert.is(await waiting, 'retry', 'room seen by the poll wakes the waiter');
});

test.run();
