/**
 * A worker thread for the unit tests of the shared tables: contends on memory shared with
 * the other threads (SharedArrayBuffers), as the processes of a group do, and posts back
 * what it saw.
 * - `slots`: claims and releases one entry of a SharedLimits table (its own row, `slot`),
 *   holding at most 2 at a time, and keeps a witness count of the slots every thread
 *   holds at once: if a claim ever let one too many through, the witness passes `max`.
 * - `grab`: claims until refused, never releasing: the threads together must get exactly `max`.
 * - `rate`: counts `hits` connections of each address in one window.
 * Imported by the test runner too (its path matches the suite's pattern): it then does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SharedLimits } from '../../../plugins/connection-limits/slots.ts';
import { hit } from '../../../plugins/connection-limits/rate.ts';

interface Job {
  mode: 'slots' | 'grab' | 'rate';
  table: Int32Array;
  rows: Int32Array;
  witness: Int32Array;
  slot: number;
  entry: number;
  max: number;
  rounds: number;
  seed: number;
  tags: number[];
  hits: number;
  threads: number;
}

if (!isMainThread) {
  const job = workerData as Job;
  startTogether(job);
  parentPort!.postMessage(job.mode === 'rate' ? countRates(job) : claimSlots(job));
}

/**
 * Every thread waits until all are ready (witness[1] counts them): else the first could be
 * done before the last started, and nothing would contend.
 */
function startTogether(job: Job): void {
  Atomics.add(job.witness, 1, 1);
  Atomics.notify(job.witness, 1);
  for (let n = Atomics.load(job.witness, 1); n < job.threads; n = Atomics.load(job.witness, 1)) Atomics.wait(job.witness, 1, n, 1000);
}

function countRates(job: Job): { ok: number[] } {
  const ok = job.tags.map(() => 0);
  for (let h = 0; h < job.hits; h++) {
    for (let i = 0; i < job.tags.length; i++) {
      if (hit(job.table, job.tags[i]!, job.tags[i]! & 3, 1234, job.max) === 'ok') ok[i]!++;
    }
  }
  return { ok };
}

function claimSlots(job: Job): { claimed: number; peak: number; held: number } {
  // A small deterministic generator, so that a failure can be run again alike.
  let state = job.seed | 1;
  const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const limits = new SharedLimits(job.table, job.rows, job.slot);
  let held = 0;
  let claimed = 0;
  let peak = 0;
  const release = () => {
    Atomics.sub(job.witness, 0, 1);
    limits.release(job.entry);
    held--;
  };
  for (let i = 0; i < job.rounds; i++) {
    if (job.mode === 'grab' || (held < 2 && random() < 0.6)) {
      if (!limits.claim(job.entry, job.max)) {
        if (job.mode === 'grab') break;
        continue;
      }
      held++;
      claimed++;
      peak = Math.max(peak, Atomics.add(job.witness, 0, 1) + 1);
    } else if (held > 0) release();
  }
  if (job.mode === 'slots') while (held > 0) release();
  return { claimed, peak, held };
}
