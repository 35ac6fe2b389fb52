/**
 * Child processes of the benchmark (backends, balancer): started with the TypeScript
 * loader and IPC, each its own event loop. `stats()` asks a child for its CPU time and RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ReadyMessage, StatsReply, StatsRequest } from './protocol.ts';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly ports: Record<string, number>;
  stats(gc?: boolean): Promise<StatsReply>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kill every child still running (on exit, on failure). */
export function killAll(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export async function startChild(name: string, script: URL, args: string[], timeoutMs = 20_000): Promise<Child> {
  const child = fork(script, args, {
    execArgv: ['--no-node-snapshot', '--expose-gc', '--import', new URL('../bin/sources.js', import.meta.url).href],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const ports = await untilReady(child, name, timeoutMs, (m: ReadyMessage) => (m?.type === 'ready' ? m.ports : undefined));
  let nextId = 1;
  return {
    name,
    process: child,
    ports,
    stats(gc = false) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no stats answer`)), 10_000);
        const onMessage = (m: StatsReply) => {
          if (m?.type !== 'stats' || m.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        const request: StatsRequest = { type: 'stats', id, gc };
        child.send(request);
      });
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.disconnect();
      });
    },
  };
}

/**
 * The first IPC message `ready` accepts (its answer), from a child that must send one within
 * `timeoutMs`; rejects if the child exits first or takes longer.
 */
export function untilReady<M, T>(child: ChildProcess, name: string, timeoutMs: number, ready: (m: M) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('message', onMessage);
    };
    const timer = setTimeout(() => (done(), reject(new Error(`${name}: not ready after ${timeoutMs} ms`))), timeoutMs);
    const onExit = (code: number | null) => (done(), reject(new Error(`${name}: exited (${code}) before it was ready`)));
    const onMessage = (m: M) => {
      const answer = ready(m);
      if (answer === undefined) return;
      done();
      resolve(answer);
    };
    child.once('exit', onExit);
    child.on('message', onMessage);
  });
}
