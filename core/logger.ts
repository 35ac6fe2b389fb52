/**
 * The logger interface the core and plugins write to: a subset of pino's, so a pino
 * logger fits and tests can pass a recording one.
 */
import { pino } from 'pino';
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

/** JSON lines on stderr, so stdout stays free for command output. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: false })) as unknown as Logger;
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
