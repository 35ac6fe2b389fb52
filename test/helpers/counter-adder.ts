/**
 * A child process for test/core/shared-counters.test.ts: takes `times` numbers from a
 * shared counter and sends them back; or, with `array:<length>:<index>`, adds 1 `times`
 * times to that int32 of the shared array `name` and sends back the array as it saw it last.
 */
import { attachSharedCounters } from '../../core/shared-counters.ts';

const [key, name, times, mode] = process.argv.slice(2);
const counters = attachSharedCounters(Number(key), 1, 2);
if (!counters.shared) process.exit(2);
const got: number[] = [];
if (mode?.startsWith('array:')) {
  const [, length, index] = mode.split(':');
  const array = counters.int32(name!, Number(length));
  if (!counters.sharedArray(name!)) process.exit(3);
  for (let i = 0; i < Number(times); i++) Atomics.add(array, Number(index), 1);
  got.push(...array);
} else {
  const c = counters.counter(name!);
  for (let i = 0; i < Number(times); i++) got.push(c.next());
}
process.send!(got, () => {
  counters.close();
  process.exit(0);
});
