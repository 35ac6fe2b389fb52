/**
 * Runs Jazzer.js (libFuzzer, in process, `--sync`) on a bundled target for a given time
 * and reads what it prints: executions, findings and the files they were written to.
 *
 * libFuzzer stops at its first finding. To fuzz for the whole time asked, the run is
 * started again on the same corpus after a finding (the corpus keeps what was learnt), up
 * to `keepGoing` findings, or until a restart finds only what was found before; each
 * finding's input stays in the artifacts folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JazzerAddon } from './native.ts';

const require = createRequire(import.meta.url);
const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'preload.cjs');

export interface Finding {
  kind: 'crash' | 'timeout' | 'oom' | 'other';
  /** The input, as libFuzzer wrote it (`crash-<sha1>`, `timeout-<sha1>`). */
  file: string | undefined;
  /** The first line that describes it (the exception, or libFuzzer's error). */
  message: string;
}

export interface RunOptions {
  seconds: number;
  /** A single input running longer than this is a hang (libFuzzer counts whole seconds). */
  timeoutMs: number;
  maxLen: number | undefined;
  keepGoing: number;
  verbose: boolean;
  /** More libFuzzer flags, as given after `--`. */
  extra: string[];
}

export interface RunResult {
  execs: number;
  /** Wall time of the fuzzing processes, start-up included. */
  seconds: number;
  findings: Finding[];
  /** Why the run stopped short, when it did (a Jazzer.js error, not a finding). */
  error: string | undefined;
}

interface Session extends RunResult {
  exitCode: number | null;
}

function kindOf(file: string): Finding['kind'] {
  const base = path.basename(file);
  if (base.startsWith('crash-')) return 'crash';
  if (base.startsWith('timeout-')) return 'timeout';
  if (base.startsWith('oom-')) return 'oom';
  return 'other';
}

function session(bundle: string, corpus: string, artifacts: string, addon: JazzerAddon, o: RunOptions, seconds: number, log: NodeJS.WritableStream): Promise<Session> {
  const cli = require.resolve('@jazzer.js/core/dist/cli.js');
  const args = [
    '--no-node-snapshot',
    ...(addon.path ? ['-r', PRELOAD] : []),
    cli, bundle, corpus, '--sync', `--timeout=${o.timeoutMs}`, '--',
    `-max_total_time=${seconds}`, '-print_final_stats=1', `-artifact_prefix=${artifacts}${path.sep}`,
    ...(o.maxLen ? [`-max_len=${o.maxLen}`] : []),
    ...o.extra,
  ];
  const started = Date.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, PB_JAZZER_ADDON: addon.path ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Session = { execs: 0, seconds: 0, findings: [], error: undefined, exitCode: null };
  let progress = 0;
  let statExecs: number | undefined;
  let message = '';
  let lastLines: string[] = [];
  let lastShown = 0;
  let buffered = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      lastLines = [...lastLines.slice(-30), line];
      const p = /^#(\d+)\s/.exec(line);
      if (p) progress = Number(p[1]);
      const stat = /^stat::number_of_executed_units:\s+(\d+)/.exec(line);
      if (stat) statExecs = Number(stat[1]);
      if (/^==\d+== (Uncaught Exception|ERROR|Segmentation)|^ALARM: /.test(line) && !message) message = line.replace(/^==\d+== /, '');
      const written = /Test unit written to (.+)$/.exec(line);
      if (written) {
        s.findings.push({ kind: kindOf(written[1]!), file: written[1], message: message || 'no message' });
        message = '';
      }
      if (o.verbose || (p && Date.now() - lastShown > 30_000)) {
        process.stderr.write(`  ${line}\n`);
        lastShown = Date.now();
      }
    }
  };
  running = child;
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      running = undefined;
      s.exitCode = code;
      s.execs = statExecs ?? progress;
      s.seconds = (Date.now() - started) / 1000;
      const known = code === 0 || code === 77 || code === 70 || code === 71 || s.findings.length > 0 || interrupted;
      if (!known) s.error = `Jazzer.js exited with ${code}:\n${lastLines.slice(-12).join('\n')}`;
      resolve(s);
    });
  });
}

/** Set by Ctrl-C: the running session ends (Jazzer.js takes the signal too), none starts after. */
let interrupted = false;
let running: ChildProcess | undefined;
export const wasInterrupted = (): boolean => interrupted;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130); // a second Ctrl-C: at once
  interrupted = true;
  running?.kill('SIGINT'); // when the signal came to this process alone (kill -INT)
});

/** Fuzzes `bundle` for `o.seconds`, restarting after findings; inputs found go to `artifacts`. */
export async function runJazzer(bundle: string, corpus: string, artifacts: string, logFile: string, addon: JazzerAddon, o: RunOptions): Promise<RunResult> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const deadline = Date.now() + o.seconds * 1000;
  const result: RunResult = { execs: 0, seconds: 0, findings: [], error: undefined };
  try {
    for (;;) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left < 2) break;
      const s = await session(bundle, corpus, artifacts, addon, o, left, log);
      result.execs += s.execs;
      result.seconds += s.seconds;
      // A finding seen before (same input, or same message) is not counted again, and
      // means the restart found nothing new: fix it before fuzzing on.
      const fresh = s.findings.filter((f) => !result.findings.some((g) => g.file === f.file || g.message === f.message));
      result.findings.push(...fresh);
      for (const f of s.findings) process.stderr.write(`  finding: ${f.kind} ${f.file ?? ''}\n    ${f.message}\n`);
      if (s.error) {
        result.error = s.error;
        break;
      }
      if (interrupted) result.error = 'interrupted (Ctrl-C)';
      else if (s.findings.length === 0 && s.exitCode !== 0) result.error = `Jazzer.js exited with ${s.exitCode} and no finding`;
      if (fresh.length === 0 || result.findings.length >= o.keepGoing || interrupted) break;
    }
  } finally {
    await new Promise((r) => log.end(r));
  }
  return result;
}
