/** A child process for test/core/shared-counters.test.ts: takes `times` numbers from a shared counter and sends them back. */
import { attachSharedCounters } from '../../core/shared-counters.ts';

const [key, name, times] = process.argv.slice(2);
const counters = attachSharedCounters(Number(key));
if (!counters.shared) process.exit(2);
const c = counters.counter(name!);
const got: number[] = [];
for (let i = 0; i < Number(times); i++) got.push(c.next());
process.send!(got, () => {
  counters.close();
  process.exit(0);
});
