/**
 * The config a balancer serves: the file's, with the runtime changes in force applied
 * (core/runtime-changes.ts). Keeps the three together, logs the changes the file takes
 * back, and saves the changes in the state directory when they move (the primary does).
 */
import { describeError } from './errors.ts';
import type { Logger } from './logger.ts';
import { applyRuntimeChanges, loadRuntimeChanges, noChanges, saveRuntimeChanges, type AppliedChanges, type RuntimeChanges } from './runtime-changes.ts';
import { ChangeError, type ChangeBase } from './runtime-ops.ts';
import type { ResolvedConfig } from './types.ts';

export class ServedConfig {
  private file: ResolvedConfig;
  private changes: RuntimeChanges;
  private served: ResolvedConfig;

  /** `given`: the changes a primary handed over (a worker); else they are read at `start`. */
  constructor(
    file: ResolvedConfig,
    private readonly given: RuntimeChanges | undefined,
    private readonly o: { persist: boolean; logger: Logger },
  ) {
    this.file = file;
    this.served = file;
    this.changes = given ?? noChanges();
  }

  get config(): ResolvedConfig {
    return this.served;
  }

  get runtimeChanges(): RuntimeChanges {
    return this.changes;
  }

  /** What the runtime operations work from. */
  base(): ChangeBase {
    return { file: this.file, served: this.served, changes: this.changes };
  }

  get fileConfig(): ResolvedConfig {
    return this.file;
  }

  /** At start: the saved changes (unless given) on the file's config. */
  start(): void {
    if (!this.given && this.o.persist) this.changes = loadRuntimeChanges(this.file.stateDir, this.o.logger);
    this.commit(this.file, this.prepare(this.file, this.changes, false));
  }

  /**
   * What `file` with `changes` would serve. `strict` (an operator's change): every change
   * must still apply, else ChangeError. Otherwise (a file reload) the ones the file now
   * decides are dropped and logged.
   */
  prepare(file: ResolvedConfig, changes: RuntimeChanges, strict: boolean): AppliedChanges {
    const applied = applyRuntimeChanges(file, changes);
    if (strict && applied.dropped.length > 0) throw new ChangeError('conflict', applied.dropped.join('; '));
    for (const why of applied.dropped) this.o.logger.info({ change: why }, 'runtime change dropped: the config file decides again');
    return applied;
  }

  /** Serve what `prepare` made; the changes are saved when they differ from before. */
  commit(file: ResolvedConfig, applied: AppliedChanges): void {
    const moved = JSON.stringify(applied.kept) !== JSON.stringify(this.changes);
    this.file = file;
    this.served = applied.config;
    this.changes = applied.kept;
    if (!moved || !this.o.persist) return;
    try {
      saveRuntimeChanges(this.served.stateDir, applied.kept);
    } catch (err) {
      this.o.logger.error({ err: describeError(err) }, 'cannot save the runtime changes; they hold until restart');
    }
  }
}
