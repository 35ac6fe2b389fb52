/**
 * Hot reload: chokidar watches the config file, the modules its clusters name (policies)
 * and its local plugin files. An edit rebuilds the whole generation beside the serving one
 * (`Balancer.reload`); a broken edit is logged with what and where, and the last good
 * generation keeps serving. Open connections are never touched by a reload.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Generation } from './generation.ts';
import type { Config } from './types.ts';

/** What the watcher reloads: a balancer, or a process group that reloads all its processes. */
export interface Reloadable {
  readonly generation: Generation;
  reload(raw: Config): Promise<void>;
}
import { readConfigFile } from './config-load.ts';
import { describeError } from './errors.ts';
import { TEMP_MODULE_PREFIX } from './import-fresh.ts';
import type { Logger } from './logger.ts';
import type { ResolvedConfig } from './types.ts';

/** The files whose edits should rebuild `config`'s generation. */
export function watchedFiles(config: ResolvedConfig): string[] {
  const files = new Set<string>();
  if (config.source) files.add(config.source);
  for (const cluster of Object.values(config.clusters)) {
    const colon = cluster.balance.indexOf(':');
    if (colon < 0) continue;
    const candidate = path.resolve(config.baseDir, cluster.balance.slice(colon + 1));
    if (existsSync(candidate)) files.add(candidate);
  }
  for (const entry of config.plugins) {
    const spec = typeof entry === 'string' ? entry : Array.isArray(entry) ? entry[0] : undefined;
    if (typeof spec === 'string' && (spec.startsWith('.') || path.isAbsolute(spec))) files.add(path.resolve(config.baseDir, spec));
  }
  return [...files];
}

export interface ReloadOutcome {
  ok: boolean;
  generation: number;
  ms: number;
  error?: string;
}

export interface ConfigWatcher {
  /** Resolves once the files are being watched (edits before that may be missed). */
  readonly ready: Promise<void>;
  /** Reload now (as SIGHUP does); resolves when done, whatever the outcome. */
  reload(reason: string): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

/**
 * Watch `balancer`'s config and related files; edits are debounced by `debounceMs`.
 * With `watch: false` nothing is watched, but `reload()` (SIGHUP) still works.
 * `onReload` hears every outcome (tests and the CLI use it).
 */
export function watchConfig(
  balancer: Reloadable,
  options: { logger: Logger; debounceMs?: number; watch?: boolean; onReload?: (outcome: ReloadOutcome) => void },
): ConfigWatcher {
  const { logger, debounceMs = 100, watch: watching = true } = options;
  const source = balancer.generation.config.source;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<ReloadOutcome> | undefined;
  let again = false;
  let closed = false;

  let followed = new Set<string>();
  /** The folders of `followed`: watched instead of the files (see `follow`). */
  let folders = new Set<string>();
  let ready: Promise<void> = Promise.resolve();
  /**
   * Watch exactly `files`; files kept from before stay watched without a gap. Their folders
   * are what is watched, not the files: an editor or `sed -i` saves by writing a new file
   * and renaming it over the old one, and a watch on the file stays on the old inode. Two
   * such saves in quick succession left chokidar's file watch on a file that no longer
   * existed, and every later edit went unseen. A folder watch sees each new file by name.
   */
  const follow = (files: string[]) => {
    if (!watching) return;
    const next = new Set(files);
    const nextFolders = new Set(files.map((f) => path.dirname(f)));
    if (!watcher) {
      followed = next;
      folders = nextFolders;
      // chokidar (and the stream modules it brings) loads once the balancer is serving:
      // watching starts a few ms after accepting, not before. `ready` covers both steps.
      ready = ready
        .then(() => import('chokidar'))
        .then(({ watch }) => {
          if (closed) return;
          if (watcher) return follow([...followed]);
          // Only the followed files of a folder are looked at (not its other entries, nor
          // those below it); the temporary copies import-fresh writes beside a plugin never.
          const ignored = (f: string) => !folders.has(f) && (!followed.has(f) || path.basename(f).startsWith(TEMP_MODULE_PREFIX));
          const w = watch([...folders], { ignoreInitial: true, depth: 0, ignored });
          watcher = w;
          w.on('all', (_event, file) => {
            if (followed.has(path.resolve(file))) schedule(`${path.relative(process.cwd(), file) || file} changed`);
          });
          w.on('error', (err) => logger.error({ err: describeError(err) }, 'file watcher error'));
          return new Promise<void>((resolve) => w.once('ready', () => resolve()));
        })
        .catch((err: unknown) => logger.error({ err: describeError(err) }, 'cannot start the file watcher'));
      return;
    }
    const added = [...nextFolders].filter((f) => !folders.has(f));
    const gone = [...folders].filter((f) => !nextFolders.has(f));
    followed = next;
    folders = nextFolders;
    if (added.length > 0) watcher.add(added);
    if (gone.length > 0) watcher.unwatch(gone);
  };

  const reloadOnce = async (reason: string): Promise<ReloadOutcome> => {
    const started = performance.now();
    try {
      if (!source) throw new Error('the balancer was not started from a config file');
      const { raw } = await readConfigFile(source);
      await balancer.reload(raw as Config);
      const generation = balancer.generation.id;
      const outcome = { ok: true, generation, ms: Math.round(performance.now() - started) };
      logger.info({ reason, generation, ms: outcome.ms }, 'config reloaded');
      if (!closed) follow(watchedFiles(balancer.generation.config));
      return outcome;
    } catch (err) {
      const error = describeError(err);
      logger.error({ reason, err: error }, 'reload failed; the previous config keeps serving');
      return { ok: false, generation: balancer.generation.id, ms: Math.round(performance.now() - started), error };
    }
  };

  const reload = (reason: string): Promise<ReloadOutcome> => {
    if (running) {
      again = true;
      return running;
    }
    running = reloadOnce(reason).then((outcome) => {
      running = undefined;
      options.onReload?.(outcome);
      if (again && !closed) {
        again = false;
        void reload('files changed during the last reload');
      }
      return outcome;
    });
    return running;
  };

  const schedule = (reason: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(reason), debounceMs);
  };

  follow(watchedFiles(balancer.generation.config));
  return {
    get ready() {
      return ready;
    },
    reload,
    async close() {
      closed = true;
      clearTimeout(timer);
      await watcher?.close();
      await running;
    },
  };
}
