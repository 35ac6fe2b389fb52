/**
 * Coded errors. Every error the balancer raises on purpose is made here, so that
 * callers (the CLI, the admin API, tests) can switch on `code` and print `message`
 * without a stack: the message alone must say what is wrong and where.
 */
import path from 'node:path';

export const ErrorCodes = {
  CONFIG_NOT_FOUND: 'PB_ERR_CONFIG_NOT_FOUND',
  CONFIG_LOAD: 'PB_ERR_CONFIG_LOAD',
  CONFIG_INVALID: 'PB_ERR_CONFIG_INVALID',
  PLUGIN_LOAD: 'PB_ERR_PLUGIN_LOAD',
  PLUGIN_INVALID: 'PB_ERR_PLUGIN_INVALID',
  PLUGIN_OPTIONS: 'PB_ERR_PLUGIN_OPTIONS',
  ALGORITHM_UNKNOWN: 'PB_ERR_ALGORITHM_UNKNOWN',
  ALGORITHM_LOAD: 'PB_ERR_ALGORITHM_LOAD',
  LISTEN: 'PB_ERR_LISTEN',
  NODE_UNKNOWN: 'PB_ERR_NODE_UNKNOWN',
  NOT_RUNNING: 'PB_ERR_NOT_RUNNING',
  INIT_EXISTS: 'PB_ERR_INIT_EXISTS',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class ProtoBalanceError extends Error {
  readonly code: ErrorCode;
  /** Individual problems, for errors that gather several (config validation). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProtoBalanceError';
    this.code = code;
    this.details = options?.details ?? [];
  }
}

/** The one factory for coded errors. */
export function pbError(
  code: ErrorCode,
  message: string,
  options?: { cause?: unknown; details?: readonly string[] },
): ProtoBalanceError {
  return new ProtoBalanceError(code, message, options);
}

export function isProtoBalanceError(err: unknown): err is ProtoBalanceError {
  return err instanceof ProtoBalanceError;
}

/**
 * `err` with its message led by the config file's name (`protobalance.config.ts: …`), so
 * that every config error says which file it is about, wherever in the build it arose
 * (plugins, algorithms, listeners). The code is kept. Returned as it is when it is no
 * coded error, already names the file, or there is no file (a config given as an object).
 */
export function inConfigFile(err: unknown, source: string | undefined): unknown {
  if (!source || !isProtoBalanceError(err)) return err;
  const name = path.basename(source);
  if (err.message.startsWith(`${name}: `)) return err;
  return pbError(err.code, `${name}: ${err.message}`, { cause: err.cause ?? err, details: err.details });
}

/** A short, single-line description of any thrown value, for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
