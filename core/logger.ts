/**
 * The logger interface the core and plugins write to: a subset of pino's, so a pino
 * logger fits and tests can pass a recording one.
 *
 * `createLogger` gives JSON lines on stderr through pino, loaded at the first line that
 * is actually written: a start that logs nothing (the usual one) does not pay for pino
 * and the Node modules it pulls in (worker threads, assert).
 */
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

const require = createRequire(import.meta.url);
const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
type Emitting = Exclude<LogLevel, 'silent'>;

/** The pino root of one `createLogger`, made on first use. */
class PinoRoot {
  private pino: PinoLogger | undefined;

  constructor(readonly level: LogLevel) {}

  get(): PinoLogger {
    if (!this.pino) {
      const { pino } = require('pino') as typeof import('pino');
      this.pino = pino({ level: this.level, base: undefined }, pino.destination({ fd: 2, sync: false }));
    }
    return this.pino;
  }

  flush(callback?: (err?: Error) => void): void {
    if (this.pino) this.pino.flush(callback);
    else callback?.();
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
    if (!this.made) {
      let logger = this.root.get();
      for (const b of this.bindings) logger = logger.child(b);
      this.made = logger;
    }
    if (typeof objOrMsg === 'string') this.made[level](objOrMsg);
    else this.made[level](objOrMsg, msg);
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
