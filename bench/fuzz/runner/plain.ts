/**
 * The fallback when Jazzer.js cannot run (`--plain`, or its addon cannot be had): the same
 * `fuzz(data)` targets driven by random inputs and mutations of the corpus's files, in a
 * worker thread watched for hangs. It is NOT coverage-guided and says so in its summary;
 * it finds what random input finds, no more. Its findings are written as libFuzzer's are
 * (`crash-<sha1>`, `timeout-<sha1>` in the artifacts folder).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Finding, RunOptions, RunResult } from './jazzer.ts';

const WORKER = new URL('./plain-worker.ts', import.meta.url);

function save(artifacts: string, kind: 'crash' | 'timeout', input: Uint8Array): string {
  const file = path.join(artifacts, `${kind}-${createHash('sha1').update(input).digest('hex')}`);
  writeFileSync(file, input);
  return file;
}

function corpusFiles(dir: string, maxLen: number): Uint8Array[] {
  return readdirSync(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f).subarray(0, maxLen));
}

export async function runPlain(target: string, corpus: string, artifacts: string, o: RunOptions, seed: number): Promise<RunResult> {
  const maxLen = o.maxLen ?? 4096;
  const seeds = corpusFiles(corpus, maxLen);
  const result: RunResult = { execs: 0, seconds: 0, findings: [], error: undefined };
  const seen = new Set<string>();
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  let round = 0;
  while (Date.now() < deadline && result.findings.length < o.keepGoing) {
    const control = new SharedArrayBuffer(12);
    const current = new SharedArrayBuffer(maxLen);
    const ctl = new Int32Array(control);
    const worker = new Worker(WORKER, { workerData: { target, seeds, maxLen, seed: seed + round++, control, current } });
    let failed: Error | undefined;
    worker.on('error', (err) => (failed = err));
    worker.on('message', (m: { input: Uint8Array; message: string }) => {
      const file = save(artifacts, 'crash', m.input);
      if (seen.has(file) || result.findings.length >= o.keepGoing) return;
      seen.add(file);
      const f: Finding = { kind: 'crash', file, message: m.message };
      result.findings.push(f);
      process.stderr.write(`  finding: crash ${file}\n    ${m.message}\n`);
    });
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    let calls = 0;
    let changed = Date.now();
    let hung = false;
    while (Date.now() < deadline && !failed && result.findings.length < o.keepGoing) {
      await new Promise((r) => setTimeout(r, 100));
      const now = Atomics.load(ctl, 0);
      if (now !== calls) [calls, changed] = [now, Date.now()];
      else if (calls > 0 && Date.now() - changed > o.timeoutMs) {
        const input = new Uint8Array(current).slice(0, Atomics.load(ctl, 1));
        const file = save(artifacts, 'timeout', input);
        result.findings.push({ kind: 'timeout', file, message: `an input ran for more than ${o.timeoutMs} ms` });
        process.stderr.write(`  finding: timeout ${file}\n`);
        hung = true;
        break;
      }
    }
    Atomics.store(ctl, 2, 1);
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
    if (!stopped || hung) await worker.terminate();
    result.execs += Atomics.load(ctl, 0);
    if (failed) {
      result.error = `the target failed to run: ${failed.message}`;
      break;
    }
    if (!hung) break;
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
