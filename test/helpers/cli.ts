/** Running the `protobalance` command as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './net.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/protobalance.js', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`; rejects if the process exits first or after `ms`. */
  waitForOutput(text: string, ms?: number): Promise<void>;
  exited: Promise<Finished>;
}

export function startCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Running {
  return watch(spawn(process.execPath, ['--no-node-snapshot', BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A child process spawned with piped stdout and stderr, its output kept and waited on. */
export function watch(child: ChildProcess, waitMs = 15_000): Running {
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<Finished>((resolve) => {
    child.on('error', (e) => resolve({ code: -1, signal: null, stdout: out, stderr: `${err}${e.message}` }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  const waitForOutput = (text: string, ms = waitMs) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms; stdout: ${out}; stderr: ${err}`)), ms);
      const check = () => {
        if (!out.includes(text)) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      };
      child.stdout!.on('data', check);
      void exited.then((f) => {
        clearTimeout(timer);
        if (!out.includes(text)) reject(new Error(`exited ${f.code ?? f.signal} before "${text}"; stdout: ${f.stdout}; stderr: ${f.stderr}`));
      });
      check();
    });
  return { child, stdout: () => out, stderr: () => err, exited, waitForOutput };
}

/** Run the command to completion (bounded by `ms`). */
export async function runCli(args: string[], env: Record<string, string> = {}, cwd = ROOT, ms = 20_000): Promise<Finished> {
  const run = startCli(args, env, cwd);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), ms);
  const finished = await run.exited;
  clearTimeout(timer);
  return finished;
}

/**
 * SIGTERM to a running `protobalance start` (unless it already ended), then its exit:
 * within `ms`, and with code 0 (a balancer that drains and stops cleanly).
 */
export async function stopBalancer(run: Running, ms = 30_000): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
  const finished = await withTimeout(run.exited, ms, 'the balancer to exit on SIGTERM');
  if (finished.code !== 0) throw new Error(`the balancer exited ${finished.code ?? finished.signal} after SIGTERM: ${finished.stderr}`);
}
