/**
 * One algorithm instance (one cluster's) in an isolate that several share
 * (core/sandbox-thread.ts). It has its own id there, its own options and its own candidate
 * table (core/sandbox-table.ts), so clusters never see each other's nodes; calls go through
 * the shared host, one at a time per isolate.
 */
import type { AlgorithmOptions } from './algorithm-runner.ts';
import type { CallKind } from './sandbox-prelude.ts';
import { ALL, LEDGER, NodeTable } from './sandbox-table.ts';
import type { Call, IsolateHost } from './sandbox-thread.ts';
import type { NodeView } from './types.ts';

export class SandboxInstance {
  /** The candidates as the isolate knows them for this instance. */
  readonly table = new NodeTable();

  /**
   * `flags`, as `__pbCreate` answered (core/sandbox-prelude.ts): 1 batchable, 2 has rank,
   * 4 reads the table (its columns in bits 8-17), 8 cyclic. The same code and options give
   * the same flags, so a restart that makes the instance again does not change them.
   */
  constructor(
    readonly host: IsolateHost,
    readonly id: number,
    readonly options: AlgorithmOptions,
    public flags: number,
  ) {}

  get batchable(): boolean {
    return (this.flags & 1) !== 0;
  }

  get hasRank(): boolean {
    return (this.flags & 2) !== 0;
  }

  /** Batchable, and its picks from a new instance repeat (core/sandbox-chooser.ts: one rotation for a group). */
  get cyclic(): boolean {
    return (this.flags & 8) !== 0;
  }

  /** The table columns calls need: ALL unless the chooser names them. */
  get columns(): number {
    return (this.flags & 4) !== 0 ? (this.flags >>> 8) & (ALL | LEDGER) : ALL;
  }

  /** See IsolateHost.start: undefined while the isolate runs a call (of any instance). */
  start(kind: CallKind, nodes: readonly NodeView[], arg: unknown, figures = true): Call | undefined {
    return this.host.start(this, kind, nodes, arg, figures);
  }

  wait(call: Call, ms: number): boolean {
    return this.host.wait(call, ms);
  }

  waitIdle(ms: number): void {
    this.host.waitIdle(ms);
  }

  observe(call: Call): boolean {
    return this.host.observe(call);
  }
}
