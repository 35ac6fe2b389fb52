/**
 * One algorithm's isolate, called off this thread.
 *
 * Calls use isolated-vm's asynchronous `apply`, which runs the isolate on isolated-vm's own
 * thread pool (a busy pool starts another thread, so a looping isolate never holds up
 * another one). The answer comes back through a shared buffer (core/sandbox-prelude.ts):
 * `wait(call, ms)` blocks this thread in `Atomics.wait` for at most `ms`, and a call that
 * is late goes on by itself and settles `call.done`. Measured on this machine (2 cores,
 * 16 nodes): a pick ≈ 30-80 µs against ≈ 26 µs for `applySync`; but `applySync` holds
 * the event loop for as long as the call runs (a loop: the whole time limit; a memory
 * bomb: seconds). A worker_thread per algorithm would do the same job with a Node
 * environment each (megabytes, tens of ms to start) for every cluster.
 *
 * One isolate serves every instance (one per cluster, core/sandbox-instance.ts) of one
 * module + policy file: an isolate costs about a megabyte, an instance a few KiB. One call
 * at a time per isolate (`start` gives undefined while any instance's call runs): choices
 * on the event loop are sequential, so only background plans can be in the way, and a
 * pick waits for them within the guard's deadline. How each call ended is found by its
 * real cause (FailureCause). An isolate killed by its memory limit is booted again, fresh,
 * on the next call, with every instance made again: clusters sharing a module share that
 * fate (they run the same code, which would fail them alike).
 */
import './native-guard.ts';
import { createRequire } from 'node:module';
import type ivm from 'isolated-vm';
import { describeError } from './errors.ts';
import { capText } from './policy-answer.ts';
import { Call, DISPOSED, framesOf } from './sandbox-call.ts';
import { bufferBytes, PRELUDE, readBuffer, SLOT, type CallKind, type Outcome } from './sandbox-prelude.ts';
import type { AlgorithmOptions } from './algorithm-runner.ts';
import { SandboxInstance } from './sandbox-instance.ts';
import type { TableUpdate } from './sandbox-table.ts';
import { originalPosition, type SourceMap } from './source-map.ts';
import type { NodeView } from './types.ts';

// Required, not imported: an ES import of a CommonJS module makes Node parse it for its
// export names first, which costs start-up time.
const IsolatedVm = createRequire(import.meta.url)('isolated-vm') as typeof ivm;

export const SCRIPT_NAME = 'pb-sandbox.js';
export const ENTRY_NAME = 'pb-entry.js';

export interface HostOptions {
  code: string;
  map: SourceMap;
  /** ms one call may run; MiB of the isolate. */
  cpuTimeout: number;
  memoryLimit: number;
  /** The user's file, as messages name it when no line is known. */
  file: string;
}

export type { Outcome } from './sandbox-prelude.ts';
export type { Call } from './sandbox-call.ts';

type Ref = ivm.Reference<(...args: unknown[]) => unknown>;

export class IsolateHost {
  private isolate: ivm.Isolate | undefined;
  private runRef: Ref | undefined;
  private createRef: Ref | undefined;
  private dropRef: Ref | undefined;
  private state: 'booting' | 'ready' | 'dead' | 'disposed' = 'dead';
  private booting: Promise<void> | undefined;
  private sab: SharedArrayBuffer;
  private i32: Int32Array;
  /** The isolate has the current buffer (a new isolate, or a bigger buffer, needs it passed). */
  private attached = false;
  private seq = 0;
  private current: Call | undefined;
  /** The instances living in the isolate, by id: made again in a new isolate. */
  private readonly instances = new Map<number, SandboxInstance>();
  private nextId = 1;

  constructor(private readonly o: HostOptions) {
    this.sab = new SharedArrayBuffer(bufferBytes(0));
    this.i32 = new Int32Array(this.sab);
  }

  /** Instances living here. */
  get size(): number {
    return this.instances.size;
  }

  /** Boot the isolate: run the prelude, then the bundle, then make every instance again. Throws what went wrong, located. */
  boot(): Promise<void> {
    if (this.state === 'disposed') return Promise.reject(new Error('disposed'));
    this.state = 'booting';
    const booting = (async () => {
      if (this.isolate && !this.isolate.isDisposed) this.isolate.dispose();
      const isolate = new IsolatedVm.Isolate({ memoryLimit: this.o.memoryLimit });
      for (const i of this.instances.values()) i.table.detach();
      this.isolate = isolate;
      try {
        const context = await isolate.createContext();
        await (await isolate.compileScript(PRELUDE, { filename: 'pb-prelude.js' })).run(context, { timeout: 1000 });
        const script = await isolate.compileScript(this.o.code, { filename: SCRIPT_NAME });
        await script.run(context, { timeout: this.o.cpuTimeout * 20 });
        this.runRef = (await context.global.get('__pbRun', { reference: true })) as Ref;
        this.createRef = (await context.global.get('__pbCreate', { reference: true })) as Ref;
        this.dropRef = (await context.global.get('__pbDrop', { reference: true })) as Ref;
        for (const i of this.instances.values()) i.flags = await this.make(i.id, i.options);
      } catch (err) {
        if (this.state !== 'disposed') this.state = 'dead';
        throw this.loadError(isolate, err);
      }
      if (this.state === 'disposed') return isolate.dispose();
      this.attached = false;
      this.state = 'ready';
    })();
    this.booting = booting;
    return booting;
  }

  /** A new instance for `options`, made in the isolate (booted first when it is not running). */
  async add(options: AlgorithmOptions): Promise<SandboxInstance> {
    const id = this.nextId++;
    for (;;) {
      if (this.state === 'disposed') throw new Error('disposed');
      if (this.state !== 'ready') await (this.state === 'booting' && this.booting ? this.booting : this.boot());
      const isolate = this.isolate!;
      let flags: number;
      try {
        flags = await this.make(id, options);
      } catch (err) {
        if (this.isolate === isolate && isolate.isDisposed && this.state === 'ready') this.state = 'dead';
        throw this.loadError(isolate, err);
      }
      // Made in the isolate running now: from here on a restart makes it again. An isolate
      // replaced meanwhile (a restart after running out of memory) never had it: again.
      if (this.isolate === isolate && this.state === 'ready') {
        const instance = new SandboxInstance(this, id, options, flags);
        this.instances.set(id, instance);
        return instance;
      }
    }
  }

  /** Forget `instance`; the isolate goes on for the others (the runner disposes an empty one). */
  drop(instance: SandboxInstance): void {
    const ref = this.dropRef;
    if (!this.instances.delete(instance.id) || this.state !== 'ready' || !ref) return;
    // An isolate that died meanwhile forgot it anyway.
    Promise.resolve().then(() => (this.state === 'ready' && this.dropRef === ref ? ref.apply(undefined, [instance.id], { timeout: this.o.cpuTimeout }) : undefined)).catch(() => undefined);
  }

  private async make(id: number, options: AlgorithmOptions): Promise<number> {
    return Number(await this.createRef!.apply(undefined, [id, options], { arguments: { copy: true }, timeout: this.o.cpuTimeout * 20 }));
  }

  private loadError(isolate: ivm.Isolate, err: unknown): Error {
    const message = describeError(err);
    if (isolate.isDisposed || /memory limit/i.test(message)) return new Error(`ran out of memory (limit ${this.o.memoryLimit} MiB) while loading`);
    if (/timed out/i.test(message)) return new Error(`exceeded its CPU time limit of ${this.o.cpuTimeout * 20} ms while loading`);
    return new Error(`${this.locate(framesOf(err))}${message}`);
  }

  /** True while a call has not finished. */
  busy(): boolean {
    const c = this.current;
    return c !== undefined && !this.observe(c);
  }

  /**
   * Start a call over `nodes` (written into the shared table: `figures` false writes only
   * ids and factors, for a plan) and a plain-data `arg`; undefined while another call runs
   * or after dispose. An isolate that died is booted again first (the call then waits).
   */
  start(instance: SandboxInstance, kind: CallKind, nodes: readonly NodeView[], arg: unknown, figures = true): Call | undefined {
    if (this.state === 'disposed' || this.busy() || !this.instances.has(instance.id)) return undefined;
    const table = instance.table;
    const columns = figures ? instance.columns : 0;
    const count = nodes.length;
    const answers = kind === 3 ? Number(arg) : count;
    if ((kind === 2 || kind === 3) && answers > this.i32.length - SLOT.PAYLOAD) {
      this.sab = new SharedArrayBuffer(bufferBytes(answers));
      this.i32 = new Int32Array(this.sab);
      this.attached = false;
    }
    const call = new Call(++this.seq, kind, this.i32, table);
    this.current = call;
    // Written only now that no call runs: the isolate never sees figures change mid-call.
    if (this.state === 'ready') this.apply(call, instance.id, count, arg, table.sync(nodes, columns));
    else {
      const ready = this.state === 'booting' && this.booting ? this.booting : this.boot();
      // The new isolate has every instance, with no candidates: send them all.
      ready.then(
        () => {
          table.detach();
          this.apply(call, instance.id, count, arg, table.sync(nodes, columns));
        },
        (err: unknown) => call.finish(this.state === 'disposed' ? DISPOSED : { ok: false, cause: 'memory', error: capText(`${this.o.file}: could not restart after running out of memory: ${describeError(err)}`) }),
      );
    }
    return call;
  }

  /** Block this thread at most `ms` for `call`'s answer; true when it is in. */
  wait(call: Call, ms: number): boolean {
    const end = performance.now() + ms;
    for (;;) {
      if (this.observe(call)) return true;
      const left = end - performance.now();
      if (left <= 0) return false;
      const seen = Atomics.load(call.i32, SLOT.SEQ);
      if (seen !== call.seq) Atomics.wait(call.i32, SLOT.SEQ, seen, left);
    }
  }

  /** Wait at most `ms` for the call running now, if any. */
  waitIdle(ms: number): void {
    if (this.current && ms > 0) this.wait(this.current, ms);
  }

  /** True when `call` has finished; reads its answer from the buffer the first time. */
  observe(call: Call): boolean {
    if (call.outcome) return true;
    if (Atomics.load(call.i32, SLOT.SEQ) !== call.seq) return false;
    const o = this.read(call);
    // A failed call may have left the isolate without this call's ids: send all again next time.
    if (!o.ok) call.table.detach();
    call.finish(o);
    return true;
  }

  dispose(): void {
    this.state = 'disposed';
    if (this.isolate && !this.isolate.isDisposed) this.isolate.dispose();
  }

  private apply(call: Call, id: number, count: number, arg: unknown, update: TableUpdate): void {
    const run = this.runRef;
    const isolate = this.isolate;
    if (this.state !== 'ready' || !run || !isolate) return call.finish(this.state === 'disposed' ? DISPOSED : { ok: false, cause: 'memory', error: 'the isolate is gone' });
    const sab = this.attached ? undefined : this.sab;
    this.attached = true;
    let running: Promise<unknown>;
    try {
      // Copied: the count, the client, and what changed of the table (ids, metrics); the
      // shared buffers are shared, not copied.
      running = run.apply(undefined, [call.seq, call.kind, id, count, arg, sab, update.sab, update.ids, update.metrics], { arguments: { copy: true }, timeout: this.o.cpuTimeout });
    } catch (err) {
      // Arguments that cannot be copied, an isolate disposed meanwhile: settled like a failed call.
      running = Promise.reject(err);
    }
    running.then(() => this.settle(call, isolate, undefined), (err: unknown) => this.settle(call, isolate, err));
  }

  /**
   * The call's promise settled: its outcome, by its real cause. A call cut off at its time
   * limit names the line it waited at (`Atomics.wait`), else only the file: V8 keeps no
   * stack of a terminated call, its sampling profiler missed tight loops in a third of our
   * tries, and pausing a running isolate through its inspector crashed the process.
   */
  private settle(call: Call, isolate: ivm.Isolate, err: unknown): void {
    // A call cut off (time limit, a throw on the way in) may have ended before the isolate
    // took the answer buffer: hand it over again with the next call, or every later call
    // would write into a buffer the isolate never got.
    if (err !== undefined) {
      call.table.detach();
      this.attached = false;
    }
    if (err === undefined) {
      if (!this.observe(call)) call.finish({ ok: false, cause: 'throw', error: `${this.o.file}: the call ended without an answer` });
      return;
    }
    const message = describeError(err);
    if (this.state === 'disposed') return call.finish(DISPOSED);
    if (isolate.isDisposed || /memory limit|disposed/i.test(message)) {
      if (this.isolate === isolate) this.state = 'dead';
      // Every instance on this isolate restarts fresh with it (the same code: the same fate).
      return call.finish({ ok: false, cause: 'memory', error: `${this.o.file}: ran out of memory (limit ${this.o.memoryLimit} MiB); it restarts with fresh state` });
    }
    if (!/timed out/i.test(message)) return call.finish({ ok: false, cause: 'throw', error: capText(`${this.o.file}: ${message}`) });
    if (Atomics.exchange(call.i32, SLOT.WAITING, 0) === 1) {
      const where = this.locate(this.frames(call.i32)) || `${this.o.file}: `;
      return call.finish({ ok: false, cause: 'deadline', error: `${where}waited past its time limit of ${this.o.cpuTimeout} ms (Atomics.wait) without answering` });
    }
    call.finish({ ok: false, cause: 'cpu', error: `${this.o.file}: exceeded its CPU time limit of ${this.o.cpuTimeout} ms` });
  }

  /** The outcome written into the buffer, with the user's `file:line:column` for a throw. */
  private read(call: Call): Outcome {
    const raw = readBuffer(call.i32, call.kind);
    if (raw.ok || raw.cause !== 'throw') return raw;
    return { ok: false, cause: 'throw', error: `${this.locate(this.frames(call.i32)) || `${this.o.file}: `}${raw.error}` };
  }

  private frames(i32: Int32Array): number[] {
    return Array.from(i32.subarray(SLOT.FRAMES, SLOT.FRAMES + SLOT.FRAME_SLOTS));
  }

  /** `file:line:column: ` of the innermost frame of the user's code among (line, column) pairs. */
  private locate(frames: number[]): string {
    for (let k = 0; k + 1 < frames.length && frames[k]! > 0; k += 2) {
      const pos = originalPosition(this.o.map, frames[k]!, frames[k + 1]!);
      if (pos && !pos.source.includes(ENTRY_NAME)) return `${pos.source}:${pos.line}:${pos.column}: `;
    }
    return '';
  }
}
