/**
 * One copy of each native addon per process. A plugin package with its own copy of
 * protobalance (or of isolated-vm, better-sqlite3) would load a second copy of an addon
 * that keeps per-process state; isolated-vm then aborts the whole process (an assertion
 * in its environment, exit 134) with no log line. Every addon load goes through
 * `process.dlopen`: a second file of the same addon name is refused there with an error,
 * which fails only the import that asked for it (a plugin's load), never the process.
 * Imported for its effect, first, by the modules that load addons.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';

const LOADED = Symbol.for('protobalance.nativeAddons');
type Registry = Map<string, string>;
const g = globalThis as { [LOADED]?: Registry };

function real(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

if (!g[LOADED]) {
  const loaded: Registry = (g[LOADED] = new Map());
  const dlopen = process.dlopen;
  process.dlopen = function guardedDlopen(this: unknown, module: { exports: unknown }, filename: string, ...rest: unknown[]) {
    const file = real(filename);
    const name = path.basename(file);
    const first = loaded.get(name);
    if (first !== undefined && first !== file) {
      throw new Error(
        `a second copy of the native addon ${name} would be loaded from ${file} (this process already runs ${first}); ` +
          'two copies abort the process. A plugin must take protobalance (and its addons) as a peerDependency, not bring its own',
      );
    }
    loaded.set(name, file);
    return (dlopen as (...a: unknown[]) => void).call(this, module, filename, ...rest);
  } as typeof process.dlopen;
}

/** The addons this process loaded, by file name, with their paths. */
export function loadedAddons(): ReadonlyMap<string, string> {
  return g[LOADED]!;
}
