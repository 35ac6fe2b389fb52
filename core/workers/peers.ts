/**
 * The channel between the processes of a group, for plugins: what one process sends under
 * a topic, every other process hears (the primary relays). Alone, nobody hears it. The
 * affinity plugin uses it so that a binding made in one worker holds in all of them.
 */
export interface Peers {
  /** True when other processes share the listeners. */
  readonly shared: boolean;
  send(topic: string, msg: unknown): void;
  /** Hear `topic` from the other processes; returns the way to stop. */
  on(topic: string, fn: (msg: unknown) => void): () => void;
}

export class PeerBus implements Peers {
  private readonly handlers = new Map<string, Set<(msg: unknown) => void>>();

  constructor(
    private readonly out: ((topic: string, msg: unknown) => void) | undefined,
    readonly shared = out !== undefined,
  ) {}

  send(topic: string, msg: unknown): void {
    this.out?.(topic, msg);
  }

  on(topic: string, fn: (msg: unknown) => void): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** A message from another process. A failing handler never stops the others. */
  deliver(topic: string, msg: unknown, onError: (err: unknown) => void): void {
    for (const fn of this.handlers.get(topic) ?? []) {
      try {
        fn(msg);
      } catch (err) {
        onError(err);
      }
    }
  }
}
