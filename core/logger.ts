/**
 * The logger interface the core and plugins write to: a subset of pino's, so a pino
 * logger fits and tests can pass a recording one.
 *
 * `createLogger` gives JSON lines on stderr through pino, loaded when the logger is made
 * (before the balancer serves), never at the first line: the first line is often written
 * at a fault, and a fault may be the very lack of file descriptors that loading a module
 * needs (`Cannot find module 'pino'` under EMFILE, thrown from an uncaughtException
 * handler, ended the process). A logger at level `silent` writes nothing and loads
 * nothing. Writing never throws: if pino cannot be had or fails, the line is written
 * as JSON straight to fd 2.
 */
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';
import type { LogLevel } from './types.ts';

type LogFn = (objOrMsg: object | string, msg?: string) => void;

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
  /** Write out what is buffered (pino writes asynchronously); call before exiting. */
  flush?(callback?: (err?: Error) => void): void;
}

const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
type Emitting = Exclude<LogLevel, 'silent'>;

/**
 * pino's module. In the prebuilt bundle the build has put pino inside, behind this plain
 * `require` call (run at the call: about 8 ms, against about 20 ms to resolve and read its
 * files from node_modules, which is what the sources do).
 */
function loadPino(): typeof import('pino') {
  if (typeof require === 'function') return require('pino') as typeof import('pino');
  return createRequire(import.meta.url)('pino') as typeof import('pino');
}

/** The pino root of one `createLogger`, made with it (see the top of this file). */
class PinoRoot {
  private pino: PinoLogger | undefined;
  private failed = false;

  constructor(readonly level: LogLevel) {
    if (level !== 'silent') this.get();
  }

  /** pino, or undefined when it could not be loaded (the lines then go out plainly). */
  get(): PinoLogger | undefined {
    if (!this.pino && !this.failed) {
      try {
        const { pino } = loadPino();
        this.pino = pino({ level: this.level, base: undefined }, pino.destination({ fd: 2, sync: false }));
      } catch (err) {
        this.failed = true;
        plainLine('error', [], { err: String(err) }, 'pino could not be loaded; log lines are written plainly');
      }
    }
    return this.pino;
  }

  flush(callback?: (err?: Error) => void): void {
    if (this.pino) this.pino.flush(callback);
    else callback?.();
  }
}

/** One JSON line on fd 2 without pino (pino's own shape), synchronously; never throws. */
function plainLine(level: Emitting, bindings: readonly Record<string, unknown>[], objOrMsg: object | string, msg?: string): void {
  try {
    const fields = typeof objOrMsg === 'string' ? { msg: objOrMsg } : { ...objOrMsg, msg };
    const line = Object.assign({ level: RANK[level], time: Date.now() }, ...bindings, fields);
    writeSync(2, `${JSON.stringify(line)}\n`);
  } catch {
    // Nowhere left to say it.
  }
}

class LazyLogger implements Logger {
  private made: PinoLogger | undefined;
  readonly trace: LogFn = (o, m) => this.emit('trace', o, m);
  readonly debug: LogFn = (o, m) => this.emit('debug', o, m);
  readonly info: LogFn = (o, m) => this.emit('info', o, m);
  readonly warn: LogFn = (o, m) => this.emit('warn', o, m);
  readonly error: LogFn = (o, m) => this.emit('error', o, m);
  readonly fatal: LogFn = (o, m) => this.emit('fatal', o, m);

  constructor(
    private readonly root: PinoRoot,
    private readonly bindings: readonly Record<string, unknown>[],
  ) {}

  child(bindings: Record<string, unknown>): Logger {
    return new LazyLogger(this.root, [...this.bindings, bindings]);
  }

  flush(callback?: (err?: Error) => void): void {
    this.root.flush(callback);
  }

  private emit(level: Emitting, objOrMsg: object | string, msg?: string): void {
    if (RANK[level] < RANK[this.root.level]) return;
    try {
      if (!this.made) {
        let logger = this.root.get();
        if (!logger) return plainLine(level, this.bindings, objOrMsg, msg);
        for (const b of this.bindings) logger = logger.child(b);
        this.made = logger;
      }
      if (typeof objOrMsg === 'string') this.made[level](objOrMsg);
      else this.made[level](objOrMsg, msg);
    } catch {
      plainLine(level, this.bindings, objOrMsg, msg);
    }
  }
}

/** JSON lines on stderr, so stdout stays free for command output. */
export function createLogger(level: LogLevel): Logger {
  return new LazyLogger(new PinoRoot(level), []);
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child: () => silentLogger,
};
