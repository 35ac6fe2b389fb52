/**
 * One call into an isolate (core/sandbox-thread.ts), settled once with how it ended.
 */
import type { CallKind, Outcome } from './sandbox-prelude.ts';
import type { NodeTable } from './sandbox-table.ts';

export class Call {
  outcome: Outcome | undefined;
  readonly done: Promise<Outcome>;
  private resolve!: (o: Outcome) => void;

  constructor(
    readonly seq: number,
    readonly kind: CallKind,
    readonly i32: Int32Array,
    /** The candidates of the instance called (sent again whole after a failed call). */
    readonly table: NodeTable,
  ) {
    this.done = new Promise((r) => (this.resolve = r));
  }

  finish(o: Outcome): void {
    if (this.outcome) return;
    this.outcome = o;
    this.resolve(o);
  }
}

export const DISPOSED: Outcome = { ok: false, cause: 'disposed', error: 'replaced by a reload' };

/** (line, column) pairs of `pb-sandbox.js` in an error's stack (a load error). */
export function framesOf(err: unknown): number[] {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const out: number[] = [];
  const re = /pb-sandbox\.js:(\d+):(\d+)/g;
  for (let m = re.exec(stack); m && out.length < 16; m = re.exec(stack)) out.push(Number(m[1]), Number(m[2]));
  return out;
}
