/**
 * How the plugin takes its shared memory (plugins/connection-limits/memory.ts): a process
 * that takes a slot another pid held gives back what that one held, a reload of the same
 * process gives back nothing (its row counts live connections); without shared memory
 * each process enforces its share of a limit.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SharedMemory } from '../../../core/index.ts';
import { entryName, openMemory, splitLimit } from '../../../plugins/connection-limits/memory.ts';
import { recordingLogger } from '../../helpers/balancer.ts';

const test = suite('connection-limits: shared memory');

/** The arrays of a group as `api.shared` hands them, seen from process `slot`. */
function group(slots: number, shared = true) {
  const arrays = new Map<string, Int32Array>();
  return (slot: number): SharedMemory => ({
    shared,
    slot,
    slots,
    int32: (name, length) => arrays.get(name) ?? (arrays.set(name, new Int32Array(length)), arrays.get(name)!),
    sharedArray: () => shared,
  });
}

test("taking over a dead process's slot gives back its holdings, once; a reload of this process keeps its own", () => {
  const view = group(2);
  const log = recordingLogger();
  const primary = openMemory(view(0), log);
  const node = primary.limits.entry(entryName.node('web/a'));
  // The process in slot 1 (another pid) took 3 slots of web/a, then died.
  const dead = openMemory(view(1), log);
  for (let i = 0; i < 3; i++) assert.ok(dead.limits.claim(node, 10));
  assert.ok(primary.limits.claim(node, 10));
  assert.is(primary.limits.count(node), 4);
  view(1).int32('connection-limits/owners/2', 2)[1] = 999_999_999; // the dead one's pid
  const replacement = openMemory(view(1), log);
  assert.is(replacement.limits.count(node), 1, 'the dead process held 3: given back');
  assert.ok(log.lines.some((l) => l.msg.includes('gave back') && l.fields.given === 3));
  // This replacement claims; a reload (same pid, same slot) must not give that back.
  assert.ok(replacement.limits.claim(node, 10));
  openMemory(view(1), log);
  openMemory(view(0), log);
  assert.is(primary.limits.count(node), 2, 'reloads keep the live holdings');
});

test('one wait list per process and memory, whichever generation asks', () => {
  const view = group(1);
  const log = recordingLogger();
  assert.is(openMemory(view(0), log).waits, openMemory(view(0), log).waits);
  assert.is.not(openMemory(group(1)(0), log).waits, openMemory(view(0), log).waits, 'another balancer, another list');
});

test('without shared memory, each of the processes enforces its share of a limit, and says so', () => {
  const log = recordingLogger();
  const alone = openMemory(group(4, false)(0), log);
  assert.is(alone.share(10, 1), 2);
  assert.is(alone.share(3, 1), 1, 'at least one');
  assert.is(alone.share(3, 0), 0, 'a queue share may be none');
  assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('share')));
  const exact = openMemory(group(4)(0), recordingLogger());
  assert.is(exact.share(10, 1), 10, 'shared: the whole limit');
  assert.is(openMemory(group(1, false)(0), recordingLogger()).share(10, 1), 10, 'a process alone: the whole limit');
  assert.is(splitLimit(100, 8, 1), 12);
});

test.run();
