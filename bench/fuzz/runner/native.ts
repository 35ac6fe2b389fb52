/**
 * The native half of Jazzer.js (libFuzzer in a Node addon), made to load on this machine.
 *
 * @jazzer.js/fuzzer 4 ships only prebuilt addons, and the Linux one needs glibc 2.38
 * (`__isoc23_strtol`); Debian 12 has 2.36, so it fails to load. Jazzer.js's own source
 * build downloads a fork of LLVM from GitHub. What is reachable here is the npm registry
 * and Debian's apt, so on first use (never in `npm ci` or `npm test`) this builds the addon:
 *   1. the addon's C++ sources: `npm pack @jazzer.js/fuzzer@2.1.0`, the last release that
 *      ships them (the JavaScript side stays 4.x: its calls into the addon are the same,
 *      plus `registerModuleCounters`, which runner/compat.cpp adds);
 *   2. libFuzzer: Debian's libclang_rt.fuzzer_no_main (installed, or `apt-get download
 *      libclang-rt-16-dev` unpacked into the cache with dpkg-deb: no root, no install);
 *   3. Node-API headers from node_modules (node-api-headers, node-addon-api);
 *   4. two exact edits to the sources and runner/compat.cpp (why: see there), then g++.
 * The result is cached in .fuzz/native/ and loaded in place of the prebuild by
 * runner/preload.cjs. Where the prebuild loads (glibc 2.38 or later), nothing is built.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The last @jazzer.js/fuzzer whose package holds its C++ sources. */
const SOURCE_VERSION = '2.1.0';
/** Debian packages holding libclang_rt.fuzzer_no_main, newest first. */
const RT_PACKAGES = ['libclang-rt-16-dev', 'libclang-rt-14-dev', 'libclang-rt-dev'];

export interface JazzerAddon {
  /** The addon to load instead of the prebuild; undefined when the prebuild loads. */
  path: string | undefined;
  /** How it came: for the run's first line. */
  how: string;
}

const loads = (file: string): boolean =>
  spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'ignore' }).status === 0;

function prebuildPath(): string {
  const dir = path.dirname(require.resolve('@jazzer.js/fuzzer/package.json'));
  return path.join(dir, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
}

/** The addon to use, built into `cacheDir` on first use when the prebuild cannot load. */
export function ensureJazzerAddon(cacheDir: string, log: (line: string) => void): JazzerAddon {
  const prebuild = prebuildPath();
  if (existsSync(prebuild) && loads(prebuild)) return { path: undefined, how: 'the prebuilt @jazzer.js/fuzzer addon' };
  const out = path.join(cacheDir, `jazzerjs-${SOURCE_VERSION}-${process.platform}-${process.arch}.node`);
  if (existsSync(out) && loads(out)) return { path: out, how: `the addon built from @jazzer.js/fuzzer ${SOURCE_VERSION} sources (${out})` };
  log(`The prebuilt Jazzer.js addon does not load here (${loadError(prebuild)}); building it once from sources into ${cacheDir}`);
  buildAddon(cacheDir, out, log);
  if (!loads(out)) throw new Error(`the addon built at ${out} does not load: ${loadError(out)}`);
  return { path: out, how: `the addon just built from @jazzer.js/fuzzer ${SOURCE_VERSION} sources (${out})` };
}

function loadError(file: string): string {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return /Error: (.*)/.exec(r.stderr)?.[1]?.trim() ?? `exit ${r.status}`;
}

function run(command: string, args: string[], cwd: string, log: (line: string) => void): string {
  log(`  $ ${command} ${args.join(' ')}`);
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Replaces `from` by `to` in `file`, which must hold it exactly once (else the sources are not the ones expected). */
function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, 'utf8');
  if (text.split(from).length !== 2) throw new Error(`${file}: expected one "${from.split('\n')[0]}"; not the sources this build knows`);
  writeFileSync(file, text.replace(from, to));
}

function findRuntime(roots: string[], arch: string): string | undefined {
  const name = `libclang_rt.fuzzer_no_main-${arch}.a`;
  const walk = (dir: string, depth: number): string | undefined => {
    if (depth > 8 || !existsSync(dir)) return undefined;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isFile() && entry.name === name) return full;
      if (entry.isDirectory() && !entry.isSymbolicLink()) {
        const found = walk(full, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  for (const root of roots) {
    const found = walk(root, 0);
    if (found) return found;
  }
  return undefined;
}

/** libFuzzer's static runtime: an installed one, or one unpacked from Debian's package. */
function libFuzzer(work: string, log: (line: string) => void): string {
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  const installed = existsSync('/usr/lib') ? readdirSync('/usr/lib').filter((d) => d.startsWith('llvm-')).map((d) => path.join('/usr/lib', d, 'lib')) : [];
  const local = findRuntime([...installed, path.join(work, 'rt')], arch);
  if (local) return local;
  for (const pkg of RT_PACKAGES) {
    try {
      run('apt-get', ['download', pkg], work, log);
    } catch {
      continue;
    }
    const deb = readdirSync(work).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) continue;
    run('dpkg-deb', ['-x', deb, 'rt'], work, log);
    const found = findRuntime([path.join(work, 'rt')], arch);
    if (found) return found;
  }
  throw new Error(`no libclang_rt.fuzzer_no_main-${arch}.a: \`apt-get download ${RT_PACKAGES[0]}\` failed (try \`apt-get update\`, or install it)`);
}

function nodeApiHeaders(): string {
  for (const candidate of [
    () => path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include'),
    () => path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    () => '/usr/include/node',
  ]) {
    try {
      const dir = candidate();
      if (existsSync(path.join(dir, 'node_api.h'))) return dir;
    } catch {
      // not installed: the next place
    }
  }
  throw new Error('no Node-API headers (node_api.h): node-api-headers is not installed and Node has no include folder');
}

function buildAddon(cacheDir: string, out: string, log: (line: string) => void): void {
  const work = path.join(cacheDir, 'build');
  rmSync(path.join(work, 'package'), { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tarball = run('npm', ['pack', `@jazzer.js/fuzzer@${SOURCE_VERSION}`, '--silent', '--pack-destination', work], work, log).trim().split('\n').pop()!;
  run('tar', ['xzf', tarball], work, log);
  const src = path.join(work, 'package');
  const runtime = libFuzzer(work, log);
  log(`  libFuzzer: ${runtime}`);

  // The fork's header is not in Debian's package; the sources need two declarations from it.
  mkdirSync(path.join(src, 'shim', 'fuzzer'), { recursive: true });
  writeFileSync(
    path.join(src, 'shim', 'fuzzer', 'FuzzerDefs.h'),
    '#pragma once\n#include <cstddef>\n#include <cstdint>\nnamespace fuzzer {\n' +
      'typedef int (*UserCallback)(const uint8_t *Data, size_t Size);\n' +
      'int FuzzerDriver(int *argc, char ***argv, UserCallback Callback);\n}\n',
  );
  copyFileSync(path.join(HERE, 'compat.cpp'), path.join(src, 'compat.cpp'));
  edit(path.join(src, 'fuzzing_sync.cpp'), '#include "utils.h"\n', '#include "utils.h"\n\nvoid JazzerCompatStop(int exit_code);\n');
  edit(
    path.join(src, 'fuzzing_sync.cpp'),
    '    gFuzzTarget->deferred.Reject(error.Value());\n    return libfuzzer::RETURN_EXIT;',
    '    gFuzzTarget->deferred.Reject(error.Value());\n    JazzerCompatStop(gSignalStatus == SIGINT ? 0 : libfuzzer::EXIT_ERROR_CODE);\n    return libfuzzer::RETURN_EXIT;',
  );
  edit(path.join(src, 'shared', 'callbacks.cpp'), '#include "callbacks.h"\n', '#include "callbacks.h"\n\nvoid RegisterModuleCounters(const Napi::CallbackInfo &info);\n');
  edit(
    path.join(src, 'shared', 'callbacks.cpp'),
    '  exports["tracePcIndir"] = Napi::Function::New<TracePcIndir>(env);\n',
    '  exports["tracePcIndir"] = Napi::Function::New<TracePcIndir>(env);\n  exports["registerModuleCounters"] = Napi::Function::New<RegisterModuleCounters>(env);\n',
  );

  const sources = [...readdirSync(src).filter((f) => f.endsWith('.cpp')), ...readdirSync(path.join(src, 'shared')).filter((f) => f.endsWith('.cpp')).map((f) => `shared/${f}`)];
  const addonApi = path.dirname(require.resolve('node-addon-api/package.json'));
  const tmp = `${out}.tmp`;
  run(
    process.env.CXX ?? 'g++',
    ['-shared', '-fPIC', '-O2', '-std=c++17', '-w', '-DNAPI_VERSION=4', '-DNAPI_CPP_EXCEPTIONS', '-fexceptions',
      `-I${nodeApiHeaders()}`, `-I${addonApi}`, '-Ishim', ...sources,
      '-Wl,--whole-archive', runtime, '-Wl,--no-whole-archive', '-lpthread', '-o', tmp],
    src,
    log,
  );
  renameSync(tmp, out);
  rmSync(work, { recursive: true, force: true }); // sources and the unpacked package: kept only when the build fails
  log(`  built ${out}`);
}
