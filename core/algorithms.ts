/**
 * The algorithm registry of one generation: plugins register algorithms by name, and each
 * cluster gets an instance of the one its `balance` names (`'name'` or `'name:argument'`).
 * Lookups are by registered name; the core itself names no algorithm.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AlgorithmRunner } from './algorithm-runner.ts';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Chooser, ClientView, NodeView, ResolvedCluster } from './types.ts';

/** What the forwarding path calls: a node among the candidates, always one of them. */
export interface NodeChooser {
  choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N;
  /** The candidates best first, when the algorithm ranks (client-hash); else undefined. */
  rank<N extends NodeView>(nodes: readonly N[], client: ClientView): N[] | undefined;
  readonly health: AlgorithmHealth;
}

/** How an algorithm instance is faring, for status reports. */
export interface AlgorithmHealth {
  /** Failed picks in a row (throws, timeouts, answers naming no candidate). */
  failuresInARow: number;
  totalFailures: number;
  /** Set after `maxFailures` failures in a row; cleared by the next good pick. */
  broken: boolean;
  lastError: string | undefined;
}

export interface RegisterOptions {
  /** `'module'`: the text after `:` in `balance` is a module path (relative to the config). */
  argument?: 'module';
}

interface Registration {
  module: string;
  plugin: string;
  options: RegisterOptions;
}

export class AlgorithmRegistry {
  private readonly entries = new Map<string, Registration>();

  register(name: string, module: string, plugin: string, options: RegisterOptions = {}): void {
    const existing = this.entries.get(name);
    if (existing) {
      throw pbError(
        ErrorCodes.PLUGIN_INVALID,
        `plugin "${plugin}" registers algorithm "${name}", already registered by plugin "${existing.plugin}"`,
      );
    }
    this.entries.set(name, { module, plugin, options });
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** A chooser for `cluster`, guarded so that a failing algorithm never costs a connection. */
  async instantiate(
    cluster: ResolvedCluster,
    runner: AlgorithmRunner,
    logger: Logger,
    context: { baseDir: string; maxFailures: number },
  ): Promise<NodeChooser> {
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
    let policy: string | undefined;
    if (entry.options.argument === 'module') {
      if (!argument) {
        throw pbError(ErrorCodes.CONFIG_INVALID, `clusters.${cluster.name}.balance: "${name}" needs a module, as "${name}:./policies/file.ts"`);
      }
      policy = path.resolve(context.baseDir, argument);
      if (!existsSync(policy)) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `clusters.${cluster.name}.balance: policy file not found: ${policy}`);
      }
    }
    let chooser: Chooser;
    try {
      chooser = await runner.create(entry.module, options, policy);
    } catch (err) {
      // A coded error's message says it all; its code in front would only be noise.
      const why = isProtoBalanceError(err) ? err.message : describeError(err);
      throw pbError(ErrorCodes.ALGORITHM_LOAD, `clusters.${cluster.name}.balance: ${why}`, { cause: err });
    }
    const source = policy === undefined ? name : path.relative(context.baseDir, policy);
    return guardChooser(chooser, logger.child({ cluster: cluster.name, algorithm: source }), context.maxFailures);
  }
}

/**
 * Wraps a chooser so that a throw, or an answer naming no candidate, falls back to a
 * weighted rotation over the candidates (smooth round robin) and is logged, instead of failing the client.
 * The answer is looked up once, here, so the caller gets the node itself. After
 * `maxFailures` failures in a row the algorithm is reported broken (logged once, and in
 * `health`) until a pick succeeds again or a reload replaces it.
 */
export function guardChooser(inner: Chooser, logger: Logger, maxFailures = 5): NodeChooser {
  const fallback = weightedRotation();
  const health: AlgorithmHealth = { failuresInARow: 0, totalFailures: 0, broken: false, lastError: undefined };
  const failed = <N extends NodeView>(nodes: readonly N[], error: string, fields: Record<string, unknown>): N => {
    health.failuresInARow++;
    health.totalFailures++;
    health.lastError = error;
    if (!health.broken && health.failuresInARow >= maxFailures) {
      health.broken = true;
      logger.error({ failures: health.failuresInARow, err: error }, 'algorithm is broken: every choice uses a weighted rotation until it is fixed');
    } else if (!health.broken) {
      logger.error({ err: error, ...fields }, 'algorithm failed; using a weighted rotation for this choice');
    }
    return fallback(nodes);
  };
  return {
    health,
    choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N {
      let id: string | undefined;
      try {
        id = inner.pick(nodes, client);
      } catch (err) {
        return failed(nodes, describeError(err), {});
      }
      for (let i = 0; i < nodes.length; i++) {
        if (nodes[i]!.id === id) {
          if (health.failuresInARow > 0) {
            if (health.broken) logger.info({}, 'algorithm works again');
            health.failuresInARow = 0;
            health.broken = false;
          }
          return nodes[i]!;
        }
      }
      return failed(nodes, `answered ${JSON.stringify(id)}, which is no candidate`, { answer: id });
    },
    rank<N extends NodeView>(nodes: readonly N[], client: ClientView): N[] | undefined {
      if (!inner.rank) return undefined;
      try {
        const order = inner.rank(nodes, client);
        const byId = new Map(nodes.map((n) => [n.id, n]));
        return order.map((id) => byId.get(id)).filter((n): n is N => n !== undefined);
      } catch (err) {
        logger.error({ err: describeError(err) }, 'algorithm failed to rank');
        return undefined;
      }
    },
  };
}

/**
 * Smooth weighted round robin, kept in the core as the safe choice when an algorithm
 * fails: it needs no sandbox and honours load factors like every algorithm must.
 */
function weightedRotation(): <N extends NodeView>(nodes: readonly N[]) => N {
  const current = new Map<string, number>();
  return (nodes) => {
    let total = 0;
    let best = 0;
    let bestWeight = -Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const weight = (current.get(nodes[i]!.id) ?? 0) + nodes[i]!.loadFactor;
      current.set(nodes[i]!.id, weight);
      total += nodes[i]!.loadFactor;
      if (weight > bestWeight) {
        bestWeight = weight;
        best = i;
      }
    }
    current.set(nodes[best]!.id, bestWeight - total);
    if (current.size > nodes.length * 4) current.clear();
    return nodes[best]!;
  };
}
