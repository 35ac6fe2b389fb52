/**
 * Messages between the primary process and its workers (over the `fork` IPC channel), and
 * a small request/answer helper on top of it. Every request a worker gets is answered,
 * with an error message when it failed, so the primary never waits for ever.
 */
import type { RuntimeChanges } from '../runtime-changes.ts';
import type { NodeState } from '../types.ts';

/** Per node key: figures of the processes other than the one told. */
export type PeerLoad = Record<string, [active: number, connectionRate: number, bytesRate: number]>;

export type Request =
  | { op: 'setNodeState'; key: string; state: NodeState }
  /** `generation`: the primary's, which the worker then reports as the one it serves. */
  | { op: 'reload'; changes: RuntimeChanges; generation: number }
  | { op: 'changes'; changes: RuntimeChanges; generation: number }
  | { op: 'snapshot' }
  | { op: 'resources'; gc?: boolean }
  | { op: 'stopAccepting' }
  | { op: 'stop'; drainTimeout: number };

export interface ProcessResources {
  pid: number;
  rss: number;
  heapUsed: number;
  openFiles: number;
}

export type ToWorker =
  | { t: 'listen'; listener: string; key: string }
  | { t: 'init'; configPath: string; listeners: number; index: number; changes: RuntimeChanges; generation: number; counters: number | undefined }
  | { t: 'req'; id: number; req: Request }
  | { t: 'peer'; topic: string; msg: unknown }
  | { t: 'peerLoad'; nodes: PeerLoad };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  | { t: 'res'; id: number; ok: true; value: unknown }
  | { t: 'res'; id: number; ok: false; error: string }
  | { t: 'peer'; topic: string; msg: unknown }
  | { t: 'load'; nodes: PeerLoad };

/** Pending requests to one worker, answered by `{ t: 'res' }` messages. */
export class Requests {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly send: (msg: ToWorker) => void) {}

  ask(req: Request, timeoutMs: number, what: string): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${what}: no answer to ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.send({ t: 'req', id, req });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error(`${what}: cannot send ${req.op}: ${(err as Error).message}`));
      }
    });
  }

  answer(msg: Extract<FromWorker, { t: 'res' }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new Error(msg.error));
  }

  /** The worker is gone: every open request fails now. */
  failAll(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
      this.pending.delete(id);
    }
  }
}
