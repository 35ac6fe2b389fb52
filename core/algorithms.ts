/**
 * The algorithm registry of one generation: plugins register algorithms by name, and each
 * cluster gets an instance of the one its `balance` names (`'name'` or `'name:argument'`).
 * Lookups are by registered name; the core itself names no algorithm.
 */
import type { AlgorithmRunner } from './algorithm-runner.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Chooser, ClientView, NodeView, ResolvedCluster } from './types.ts';

/** What the forwarding path calls: a node among the candidates, always one of them. */
export interface NodeChooser {
  choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N;
}

interface Registration {
  module: string;
  plugin: string;
}

export class AlgorithmRegistry {
  private readonly entries = new Map<string, Registration>();

  register(name: string, module: string, plugin: string): void {
    const existing = this.entries.get(name);
    if (existing) {
      throw pbError(
        ErrorCodes.PLUGIN_INVALID,
        `plugin "${plugin}" registers algorithm "${name}", already registered by plugin "${existing.plugin}"`,
      );
    }
    this.entries.set(name, { module, plugin });
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** A chooser for `cluster`, guarded so that a failing algorithm never costs a connection. */
  async instantiate(cluster: ResolvedCluster, runner: AlgorithmRunner, logger: Logger): Promise<NodeChooser> {
    const colon = cluster.balance.indexOf(':');
    const name = colon < 0 ? cluster.balance : cluster.balance.slice(0, colon);
    const argument = colon < 0 ? undefined : cluster.balance.slice(colon + 1);
    const entry = this.entries.get(name);
    if (!entry) {
      throw pbError(
        ErrorCodes.ALGORITHM_UNKNOWN,
        `clusters.${cluster.name}.balance: unknown algorithm "${name}" (known: ${this.names().join(', ') || 'none'})`,
      );
    }
    const options = {
      ...cluster.balanceOptions,
      cluster: cluster.name,
      ...(argument === undefined ? {} : { argument }),
      ...(cluster.hashSecret === undefined ? {} : { hashSecret: cluster.hashSecret }),
    };
    let chooser: Chooser;
    try {
      chooser = await runner.create(entry.module, options);
    } catch (err) {
      throw pbError(ErrorCodes.ALGORITHM_LOAD, `clusters.${cluster.name}.balance: ${describeError(err)}`, { cause: err });
    }
    return guardChooser(chooser, logger.child({ cluster: cluster.name, algorithm: name }));
  }
}

/**
 * Wraps a chooser so that a throw, or an answer naming no candidate, falls back to a
 * plain rotation over the candidates and is logged, instead of failing the client.
 * The answer is looked up once, here, so the caller gets the node itself.
 */
export function guardChooser(inner: Chooser, logger: Logger): NodeChooser {
  let cursor = 0;
  return {
    choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N {
      let id: string | undefined;
      try {
        id = inner.pick(nodes, client);
      } catch (err) {
        logger.error({ err: describeError(err) }, 'algorithm failed; using a plain rotation for this choice');
        return nodes[cursor++ % nodes.length]!;
      }
      for (let i = 0; i < nodes.length; i++) if (nodes[i]!.id === id) return nodes[i]!;
      logger.warn({ answer: id }, 'algorithm named no candidate; using a plain rotation for this choice');
      return nodes[cursor++ % nodes.length]!;
    },
  };
}
