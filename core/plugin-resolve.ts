/**
 * Finding a plugin package by the name a config gives: `'hello'` is the package
 * `protobalance-plugin-hello` (else `hello` itself), `'@scope/hello'` is
 * `@scope/protobalance-plugin-hello` (else `@scope/hello`), a full name is itself. Looked up
 * as Node does, in the node_modules folders from the config's folder up; the entry is
 * the package's `exports` (import / node / default conditions), else `main`, else index.js.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

export const PLUGIN_PREFIX = 'protobalance-plugin-';

/** The package names a plugin name may mean, in the order they are tried. */
export function packageNames(spec: string): string[] {
  const scoped = /^(@[^/]+)\/([^/]+)$/.exec(spec);
  if (scoped) {
    const [, scope, name] = scoped as unknown as [string, string, string];
    return name.startsWith(PLUGIN_PREFIX) ? [spec] : [`${scope}/${PLUGIN_PREFIX}${name}`, spec];
  }
  return spec.startsWith(PLUGIN_PREFIX) || spec.startsWith('@') ? [spec] : [`${PLUGIN_PREFIX}${spec}`, spec];
}

export interface FoundPackage {
  name: string;
  /** The package's folder, links resolved: where its own dependencies are found from. */
  dir: string;
  /** The entry module's file, links resolved. */
  entry: string;
  /** Whether the entry is CommonJS. */
  commonJs: boolean;
  version: string | undefined;
}

interface PackageJson {
  name?: string;
  version?: string;
  type?: string;
  main?: string;
  exports?: unknown;
}

/** The target of an `exports` value for `import`, following conditions in order. */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const t = exportTarget(v);
      if (t) return t;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const map = value as Record<string, unknown>;
  if ('.' in map) return exportTarget(map['.']);
  for (const condition of ['import', 'node', 'default']) {
    if (condition in map) {
      const t = exportTarget(map[condition]);
      if (t) return t;
    }
  }
  return undefined;
}

/** The folders where `name` may be installed, nearest first. */
export function packageDirs(name: string, fromDir: string): string[] {
  const out: string[] = [];
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') out.push(path.join(dir, 'node_modules', name));
    if (path.dirname(dir) === dir) return out;
  }
}

/** The package `name` as seen from `fromDir`, or undefined when it is not installed there. */
export function findPackage(name: string, fromDir: string): FoundPackage | undefined {
  const dir = packageDirs(name, fromDir).find((d) => existsSync(path.join(d, 'package.json')));
  if (!dir) return undefined;
  const real = realpathSync(dir);
  const pkg = JSON.parse(readFileSync(path.join(real, 'package.json'), 'utf8')) as PackageJson;
  const target = exportTarget(pkg.exports) ?? pkg.main ?? 'index.js';
  let entry = path.resolve(real, target);
  if (!existsSync(entry) && existsSync(`${entry}.js`)) entry = `${entry}.js`;
  if (!existsSync(entry) && existsSync(path.join(entry, 'index.js'))) entry = path.join(entry, 'index.js');
  const commonJs = entry.endsWith('.cjs') || (entry.endsWith('.js') && pkg.type !== 'module');
  return { name, dir: real, entry: existsSync(entry) ? realpathSync(entry) : entry, commonJs, version: pkg.version };
}
