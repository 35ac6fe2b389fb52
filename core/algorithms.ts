/**
 * The algorithm registry of one generation: plugins register algorithms by name, and each
 * cluster gets an instance of the one its `balance` names (`'name'` or `'name:argument'`).
 * Lookups are by registered name; the core itself names no algorithm.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInProcessRunner, type AlgorithmOptions, type AlgorithmRunner } from './algorithm-runner.ts';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import { guardChooser, type NodeChooser } from './guard.ts';
import type { Logger } from './logger.ts';
import type { Chooser, ResolvedCluster } from './types.ts';

export type { AlgorithmHealth, NodeChooser } from './guard.ts';
export { guardChooser } from './guard.ts';

export interface RegisterOptions {
  /** `'module'`: the text after `:` in `balance` is a module path (relative to the config). */
  argument?: 'module';
  /**
   * A choice the sandboxed algorithm cannot make in time (or at all) is made by the same
   * module run in this process, not by a weighted rotation. For trusted, deterministic
   * algorithms whose answer must not depend on timing: client-hash, where twin balancers
   * must place a client alike. Ignored with a policy (`argument: 'module'`).
   */
  inProcessFallback?: boolean;
}

/** A coded error's message says it all; its code in front would only be noise. */
function loadError(cluster: ResolvedCluster, err: unknown) {
  const why = isProtoBalanceError(err) ? err.message : describeError(err);
  return pbError(ErrorCodes.ALGORITHM_LOAD, `clusters.${cluster.name}.balance: ${why}`, { cause: err });
}

interface Resolved {
  name: string;
  entry: Registration;
  options: AlgorithmOptions;
  policy: string | undefined;
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

  /** What `cluster`'s `balance` names: the registration, the options `create` gets, the policy file. */
  private resolve(cluster: ResolvedCluster, baseDir: string): Resolved {
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
    const options: AlgorithmOptions = {
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
      policy = path.resolve(baseDir, argument);
      if (!existsSync(policy)) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `clusters.${cluster.name}.balance: policy file not found: ${policy}`);
      }
    }
    return { name, entry, options, policy };
  }

  /**
   * What an instance for `cluster` would be made of now, as text: an instance of an earlier
   * generation with the same text can serve on (its state kept). Undefined when the runner
   * cannot say (then every generation makes its own). Its errors are `instantiate`'s.
   */
  async identify(cluster: ResolvedCluster, runner: AlgorithmRunner, baseDir: string): Promise<string | undefined> {
    if (!runner.identify) return undefined;
    const r = this.resolve(cluster, baseDir);
    try {
      return this.keyOf(cluster, r.entry, await runner.identify(r.entry.module, r.options, r.policy));
    } catch (err) {
      throw loadError(cluster, err);
    }
  }

  private keyOf(cluster: ResolvedCluster, entry: Registration, made: string | undefined): string | undefined {
    return made === undefined ? undefined : JSON.stringify([cluster.balance, entry.module, entry.options, made]);
  }

  /** A chooser for `cluster`, guarded so that a failing algorithm never costs a connection. */
  async instantiate(
    cluster: ResolvedCluster,
    runner: AlgorithmRunner,
    logger: Logger,
    context: { baseDir: string; maxFailures: number },
  ): Promise<{ chooser: NodeChooser; raw: Chooser; key: string | undefined }> {
    const { name, entry, options, policy } = this.resolve(cluster, context.baseDir);
    let raw: Chooser;
    try {
      raw = await runner.create(entry.module, options, policy);
    } catch (err) {
      throw loadError(cluster, err);
    }
    const source = policy === undefined ? name : path.relative(context.baseDir, policy);
    const log = logger.child({ cluster: cluster.name, algorithm: source });
    const chooser = guardChooser(raw, log, context.maxFailures, { fallback: await this.standIn(entry, options, policy, log) });
    return { chooser, raw, key: this.keyOf(cluster, entry, runner.identityOf?.(raw)) };
  }

  /** The in-process twin of a sandboxed algorithm registered with `inProcessFallback`. */
  private async standIn(entry: Registration, options: AlgorithmOptions, policy: string | undefined, logger: Logger): Promise<Chooser | undefined> {
    if (!entry.options.inProcessFallback || policy !== undefined) return undefined;
    try {
      return await createInProcessRunner().create(entry.module, options);
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'the algorithm cannot run in this process too; late choices use a weighted rotation');
      return undefined;
    }
  }
}
