/**
 * The soak's child processes and what the driver says to them over IPC.
 *
 * The driver (bench/soak.ts) forks two children: the echo backends
 * (bench/soak-backends.ts) and the balancer under test (bench/soak-balancer.ts, which runs
 * a ProcessGroup). Each child announces `{ t: 'ready', ports }`, then answers commands
 * `{ t: 'cmd', id, cmd }` with `{ t: 'reply', id, ok, ... }`. Every question has a
 * timeout, so the driver never waits for ever on a stuck child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { NodeState } from '../core/types.ts';
import { untilReady } from './children.ts';

export type SoakCommand =
  | { op: 'state'; key: string; state: NodeState }
  /** Reload from the config file; with `edit`, toggle a node's loadFactor 1↔2 in the file first. */
  | { op: 'reload'; edit: boolean }
  /** With `gc`, every process of the group runs a full garbage collection before it is measured. */
  | { op: 'resources'; gc?: boolean }
  | { op: 'status' }
  /** Backends only: connections accepted per node so far. */
  | { op: 'counts' }
  | { op: 'stop' };

export interface CommandMessage {
  t: 'cmd';
  id: number;
  cmd: SoakCommand;
}

export type ReplyMessage = { t: 'reply'; id: number; ok: true; value: unknown } | { t: 'reply'; id: number; ok: false; error: string };

export interface ReadyMessage {
  t: 'ready';
  ports: number[];
}

/** What `reload` answers. */
export interface ReloadReply {
  ms: number;
  /** loadFactor of the toggled node after the reload. */
  loadFactor: number;
}

/** In a child: answer the driver's commands with `handle`, and leave when the driver does. */
export function serveCommands(handle: (cmd: SoakCommand) => Promise<unknown>, onDisconnect: () => void): void {
  process.on('message', (m: CommandMessage) => {
    if (m?.t !== 'cmd') return;
    handle(m.cmd).then(
      (value) => send({ t: 'reply', id: m.id, ok: true, value }),
      (err: unknown) => send({ t: 'reply', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', onDisconnect);
}

function send(msg: ReplyMessage | ReadyMessage): void {
  if (process.connected) process.send!(msg);
}

export const announceReady = (ports: number[]): void => send({ t: 'ready', ports });

const running = new Set<SoakChild>();

/** Kill every child still running, with its whole process group (the balancer's workers too). */
export function killAllChildren(): void {
  for (const c of running) c.kill();
}

export class SoakChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly ports: number[],
  ) {
    process.on('message', (m: ReplyMessage) => {
      if (m?.t !== 'reply') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
    process.once('exit', (code, signal) => {
      running.delete(this);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
  }

  /**
   * Fork `script` with the TypeScript loader. `detached` makes the child a process-group
   * leader, so `kill()` also reaches the processes it forks (the balancer's workers).
   */
  static async start(name: string, script: URL, args: string[], options: { pipeStderr?: boolean; readyMs?: number } = {}): Promise<SoakChild> {
    const child = fork(fileURLToPath(script), args, {
      execArgv: ['--no-node-snapshot', '--import', new URL('../bin/sources.js', import.meta.url).href],
      stdio: ['ignore', 'inherit', options.pipeStderr ? 'pipe' : 'inherit', 'ipc'],
      detached: true,
    });
    const ports = await untilReady(child, name, options.readyMs ?? 30_000, (m: ReadyMessage) => (m?.t === 'ready' ? m.ports : undefined)).catch((err: unknown) => {
      killGroup(child);
      throw err;
    });
    const c = new SoakChild(name, child, ports);
    running.add(c);
    return c;
  }

  get stderr(): Readable | null {
    return this.process.stderr;
  }

  ask<T>(cmd: SoakCommand, timeoutMs = 15_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${cmd.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.process.send({ t: 'cmd', id, cmd } satisfies CommandMessage);
    });
  }

  /** Wait up to `ms` for the child to exit by itself, then kill its group. */
  async waitExit(ms: number): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve();
      }, ms);
      this.process.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  kill(): void {
    killGroup(this.process);
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    // Negative pid: the child's process group (it was started detached), so workers go too.
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
