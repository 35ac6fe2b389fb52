/**
 * Tests that do what a user does: pack this repository as `npm publish` would (`npm pack`,
 * which runs `prepare`, the build), install the tarball into a fresh project with the
 * real npm, and run what the project runs (`tsc`, `protobalance start`, …).
 *
 * Installs use `--ignore-scripts --prefer-offline`: packages come from npm's cache when it
 * has them, and no install script runs. A full install would compile isolated-vm and
 * better-sqlite3 from source (minutes, and a C++ toolchain); instead, their compiled
 * addons are copied from this repository's node_modules into every copy of those packages
 * under the project, after checking the versions are the same (an addon built for another
 * version may crash the process). esbuild needs no script: its binary comes in its
 * platform package.
 *
 * Every command is bounded in time; a command past its time is killed with its children.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, watch, type Finished, type Running } from './cli.ts';
import { tmpDir } from './tmp.ts';

export interface RunOptions {
  /** Default: the project's folder. */
  cwd?: string;
  env?: Record<string, string>;
  /** Milliseconds before the command and its children are killed (default 3 min). */
  timeout?: number;
}

/** Compiled addons of native packages, relative to the package folder. */
const NATIVE: Record<string, string[]> = {
  'isolated-vm': ['out/isolated_vm.node'],
  'better-sqlite3': ['build/Release/better_sqlite3.node'],
};

const NPM_FLAGS = ['--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** PATH with this Node first, so that `#!/usr/bin/env node` scripts and npm use it. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const PATH = [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter);
  return { ...process.env, PATH, npm_config_update_notifier: 'false', ...extra };
}

/**
 * Start `cmd` in its own process group (so a timeout or a stop reaches its children too),
 * with stdout and stderr captured.
 */
export function start(cmd: string, args: readonly string[], options: RunOptions & { cwd: string }): Running {
  return watch(spawn(cmd, args, { cwd: options.cwd, env: env(options.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true }), 30_000);
}

/** Signal `running`'s whole process group; never throws (it may be gone). */
export function signalGroup(running: Running, signal: NodeJS.Signals): void {
  try {
    if (running.child.pid !== undefined) process.kill(-running.child.pid, signal);
  } catch {
    // already exited
  }
}

/** Run `cmd` to its end, bounded by `timeout`. */
export async function run(cmd: string, args: readonly string[], options: RunOptions & { cwd: string }): Promise<Finished> {
  const running = start(cmd, args, options);
  const ms = options.timeout ?? 180_000;
  const timer = setTimeout(() => signalGroup(running, 'SIGKILL'), ms);
  const finished = await running.exited;
  clearTimeout(timer);
  return finished;
}

/** Like `run`, but an exit other than 0 throws with the command's output. */
export async function mustRun(cmd: string, args: readonly string[], options: RunOptions & { cwd: string }): Promise<Finished> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${options.cwd}) exited ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** `npm pack` of `dir` into a new folder; the tarball's path. */
async function npmPack(dir: string, scripts: boolean): Promise<string> {
  const dest = tmpDir();
  await mustRun('npm', ['pack', '--pack-destination', dest, '--loglevel=error', ...(scripts ? [] : ['--ignore-scripts'])], { cwd: dir });
  const tarballs = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack in ${dir} made ${tarballs.length} tarballs`);
  return path.join(dest, tarballs[0]!);
}

let repoTarball: Promise<string> | undefined;

/** This repository packed as it would be published (its `prepare` builds dist/); once per process. */
export function packRepo(): Promise<string> {
  repoTarball ??= npmPack(ROOT, true);
  return repoTarball;
}

/** The version of `name` installed in this repository (for installing the same one). */
export function repoVersion(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/**
 * Copies one addon, unless the same size is there already. Through a new file renamed into
 * place: a running process may have the old one mapped (a later install into a project
 * whose balancer runs), and writing into a mapped library crashes that process.
 */
function copyAddon(from: string, to: string): void {
  if (existsSync(to) && statSync(to).size === statSync(from).size) return;
  mkdirSync(path.dirname(to), { recursive: true });
  const temp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, temp);
  renameSync(temp, to);
}

/**
 * Copies the compiled addons of this repository's native packages into every copy of them
 * under `dir`'s node_modules (nested ones too; symlinked packages are left to their own
 * folder). Throws when a copy's version differs from the repository's.
 */
export function copyNativeBuilds(dir: string): void {
  const visit = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      const pkg = path.join(modules, entry);
      if (entry.startsWith('.') || lstatSync(pkg).isSymbolicLink()) continue;
      if (entry.startsWith('@')) {
        visit(pkg);
        continue;
      }
      const files = NATIVE[entry];
      if (files) {
        const version = readJson(path.join(pkg, 'package.json')).version;
        if (version !== repoVersion(entry)) {
          throw new Error(`${pkg} is ${entry}@${String(version)} but the repository's is ${repoVersion(entry)}: its addon cannot be copied`);
        }
        for (const file of files) copyAddon(path.join(ROOT, 'node_modules', entry, file), path.join(pkg, file));
      }
      visit(path.join(pkg, 'node_modules'));
    }
  };
  visit(path.join(dir, 'node_modules'));
}

export interface Project {
  dir: string;
  /** Run a command in the project (bounded). */
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<Finished>;
  /** Start a long-running command in the project; stop it with `signalGroup`. */
  start(cmd: string, args: readonly string[], options?: RunOptions): Running;
  /** `npm install` more specs into the project (same flags, native addons copied). */
  install(specs: readonly string[]): Promise<void>;
}

async function npmInstall(dir: string, specs: readonly string[]): Promise<void> {
  await mustRun('npm', ['install', ...NPM_FLAGS, ...specs], { cwd: dir, timeout: 300_000 });
  copyNativeBuilds(dir);
}

/**
 * A new project folder with a package.json ("type": "module") and `specs` installed by
 * npm: tarball paths, folder paths (installed as symlinks), or `name@version`.
 */
export async function makeProject(specs: readonly string[]): Promise<Project> {
  const dir = tmpDir({ 'package.json': `${JSON.stringify({ name: 'pb-user-project', private: true, type: 'module' }, null, 2)}\n` });
  await npmInstall(dir, specs);
  return {
    dir,
    run: (cmd, args, options = {}) => run(cmd, args, { cwd: dir, ...options }),
    start: (cmd, args, options = {}) => start(cmd, args, { cwd: dir, ...options }),
    install: (more) => npmInstall(dir, more),
  };
}

export interface PackedDir {
  /** The tarball. */
  tarball: string;
  /** The built copy the tarball was packed from, its devDependencies installed. */
  dir: string;
}

/**
 * Packs another package folder as its author would publish it: a copy of it (without
 * node_modules, dist, tarballs) gets its devDependencies installed (a `file:` one naming
 * this repository is installed from `packRepo()`'s tarball), is built when it has a build
 * script, and is packed.
 */
export async function packDir(source: string): Promise<PackedDir> {
  const dir = tmpDir();
  const skip = new Set(['node_modules', 'dist', 'package-lock.json']);
  cpSync(source, dir, { recursive: true, filter: (f) => !skip.has(path.basename(f)) && !f.endsWith('.tgz') });
  const manifest = readJson(path.join(dir, 'package.json'));
  const dev = (manifest.devDependencies ?? {}) as Record<string, string>;
  for (const [name, spec] of Object.entries(dev)) {
    if (!spec.startsWith('file:')) continue;
    const target = path.resolve(source, spec.slice('file:'.length));
    dev[name] = path.resolve(target) === path.resolve(ROOT) ? await packRepo() : `file:${target}`;
  }
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const scripts = (manifest.scripts ?? {}) as Record<string, string>;
  if (scripts.build) {
    await npmInstall(dir, []);
    await mustRun('npm', ['run', 'build', '--loglevel=error'], { cwd: dir, timeout: 120_000 });
  }
  return { tarball: await npmPack(dir, false), dir };
}

/** Pack `dir` as it is now (no build, no scripts): for a package edited after `packDir`. */
export function packAsIs(dir: string): Promise<string> {
  return npmPack(dir, false);
}
