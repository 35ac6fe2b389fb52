/** Starting a balancer for tests: listener on 127.0.0.1:0, a recording logger. */
import { tmpDir } from './tmp.ts';
import { createBalancer, type Balancer, type Config, type Logger } from '../../core/index.ts';
import { builtinPlugins } from './assembly.ts';

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line, for assertions on what was logged. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: string, bindings: Record<string, unknown>) =>
    (objOrMsg: object | string, msg?: string) => {
      const fields = typeof objOrMsg === 'string' ? {} : (objOrMsg as Record<string, unknown>);
      lines.push({ level, msg: typeof objOrMsg === 'string' ? objOrMsg : (msg ?? ''), fields: { ...bindings, ...fields } });
    };
  const make = (bindings: Record<string, unknown>): Logger & { lines: LogLine[] } => ({
    lines,
    trace: at('trace', bindings),
    debug: at('debug', bindings),
    info: at('info', bindings),
    warn: at('warn', bindings),
    error: at('error', bindings),
    fatal: at('fatal', bindings),
    child: (more) => make({ ...bindings, ...more }),
  });
  return make({});
}

export interface TestBalancer {
  balancer: Balancer;
  port: number;
  logger: Logger & { lines: LogLine[] };
  stop(): Promise<void>;
}

/** One cluster `c` of the given node addresses (ids n0, n1, …) behind a port-0 listener. */
export function oneCluster(addresses: string[], extra: Partial<Config['clusters'][string]> = {}): Config {
  return {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { nodes: addresses.map((address, i) => ({ id: `n${i}`, address })), ...extra } },
  };
}

/** Starts `config`, with a fresh state directory unless it names one (tests never share state). */
export async function startBalancer(config: Config): Promise<TestBalancer> {
  config = { stateDir: tmpDir(), ...config };
  const logger = recordingLogger();
  const balancer = createBalancer(config, { logger, builtins: builtinPlugins() });
  const [first] = await balancer.start();
  return { balancer, port: first!.port, logger, stop: () => balancer.stop(200) };
}
