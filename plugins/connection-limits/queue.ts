/**
 * The clients of this process waiting for a full node to free a slot, oldest first.
 *
 * A waiter watches the nodes that refused it as full. It is woken (its promise resolves
 * 'retry', and the core chooses again) when:
 * - a connection of this process gives a slot of one of them back (`freed`): at once;
 * - another process did, or room came otherwise (a node back up): a poll of the shared
 *   counts every `pollMs`, running only while someone waits. Polling rather than messages
 *   between processes: it costs nothing while nobody waits (a message per release would
 *   cost every connection of every process once anyone waits anywhere), it cannot be lost
 *   with a dying process, and a few ms of latency are nothing to a client already queued.
 * Each free slot wakes one waiter, the oldest that watches it, so that a release does not
 * stampede the whole queue. Waiting ends with 'timeout' at the deadline, or 'gone' when
 * the client left (`cancel`).
 */
export type WaitAnswer = 'retry' | 'timeout' | 'gone';

export interface Watched {
  /** A node's `cluster/id`. */
  readonly key: string;
}

interface Waiter<N extends Watched> {
  readonly seq: number;
  readonly nodes: readonly N[];
  readonly timer: NodeJS.Timeout;
  readonly settle: (answer: WaitAnswer) => void;
}

export class WaitList<N extends Watched> {
  private readonly waiters: Waiter<N>[] = [];
  private poller: NodeJS.Timeout | undefined;
  private seq = 0;

  /**
   * `room(node)`: slots free on `node` now, across the group (0 when it cannot take one:
   * full, down, not green). `pollMs`: the period of the poll, or 0 for none.
   */
  constructor(
    private readonly room: (node: N) => number,
    private readonly pollMs: number,
  ) {}

  get length(): number {
    return this.waiters.length;
  }

  /** A place in the queue, after every one given before. */
  next(): number {
    return ++this.seq;
  }

  /**
   * Waits for one of `nodes` to free a slot, for at most `ms`. `seq` orders the waiters
   * (a client that lost the race for a freed slot waits again with its first number, so it
   * keeps its place). `lookNow`: poll once right away, for a client new to the queue that
   * may have been sent there while a node had room (it queues behind older waiters).
   */
  wait(seq: number, nodes: readonly N[], ms: number, lookNow = false): Promise<WaitAnswer> {
    return new Promise((resolve) => {
      const waiter: Waiter<N> = {
        seq,
        nodes,
        timer: setTimeout(() => waiter.settle('timeout'), Math.max(0, ms)),
        settle: (answer) => {
          const at = this.waiters.indexOf(waiter);
          if (at < 0) return;
          this.waiters.splice(at, 1);
          clearTimeout(waiter.timer);
          if (this.waiters.length === 0) this.stopPolling();
          resolve(answer);
        },
      };
      let at = this.waiters.length;
      while (at > 0 && this.waiters[at - 1]!.seq > seq) at--;
      this.waiters.splice(at, 0, waiter);
      if (this.pollMs > 0 && !this.poller) {
        this.poller = setInterval(() => this.poll(), this.pollMs);
      }
      if (lookNow) setImmediate(() => this.poll());
    });
  }

  /** The client `seq` left while waiting. */
  cancel(seq: number): void {
    this.waiters.find((w) => w.seq === seq)?.settle('gone');
  }

  /** A connection of this process gave back a slot of `node`: the oldest waiter for it retries. */
  freed(node: Watched): boolean {
    const waiter = this.waiters.find((w) => w.nodes.some((n) => n.key === node.key));
    if (!waiter || !waiter.nodes.some((n) => n.key === node.key && this.room(n) > 0)) return false;
    waiter.settle('retry');
    return true;
  }

  /** Wakes as many waiters as the watched nodes have free slots now, oldest first. */
  poll(): number {
    const free = new Map<string, number>();
    const wake: Waiter<N>[] = [];
    for (const w of this.waiters) {
      for (const n of w.nodes) {
        let left = free.get(n.key);
        if (left === undefined) free.set(n.key, (left = this.room(n)));
        if (left > 0) {
          free.set(n.key, left - 1);
          wake.push(w);
          break;
        }
      }
    }
    for (const w of wake) w.settle('retry');
    return wake.length;
  }

  /** Every waiter is told 'gone' (the process stops). */
  clear(): void {
    for (const w of [...this.waiters]) w.settle('gone');
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }
}
