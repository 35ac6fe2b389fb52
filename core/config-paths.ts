/**
 * Files a config names for algorithms (`balance: 'policy:./policies/x.ts'`) stay inside
 * the config's folder, or inside a folder the config lists in `policyDirs`. A config that
 * comes from somewhere less trusted than its folder (an admin API edit, a generated file)
 * must not make the balancer read any file on the machine: bundling `/etc/shadow` as a
 * policy would put its first word in an error message.
 */
import path from 'node:path';
import { Problems, show } from './config-fields.ts';
import type { ResolvedCluster } from './types.ts';

/** The folders policy files may come from: the config's, and those `policyDirs` lists. */
export function policyDirsOf(p: Problems, raw: unknown, baseDir: string): string[] {
  const dirs = [baseDir];
  if (raw === undefined) return dirs;
  if (!Array.isArray(raw) || !raw.every((d) => typeof d === 'string' && d !== '')) {
    p.add('policyDirs', 'an array of folders', raw);
    return dirs;
  }
  return [...dirs, ...raw.map((d: string) => path.resolve(baseDir, d))];
}

const inside = (file: string, dir: string) => {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** A problem for every cluster whose algorithm argument is a file outside `dirs`. */
export function checkAlgorithmFiles(p: Problems, clusters: Record<string, ResolvedCluster>, baseDir: string, dirs: readonly string[]): void {
  for (const [name, c] of Object.entries(clusters)) {
    const colon = c.balance.indexOf(':');
    if (colon < 0) continue;
    const arg = c.balance.slice(colon + 1);
    if (!/^(\.{1,2}[\\/]|[\\/]|[A-Za-z]:[\\/])/.test(arg)) continue;
    const file = path.resolve(baseDir, arg);
    if (!dirs.some((d) => inside(file, d))) {
      p.say(
        `clusters.${name}.balance`,
        `the file ${show(arg)} is outside the config's folder ${baseDir}${dirs.length > 1 ? ' and policyDirs' : ''}; ` +
          'move it there, or list its folder in policyDirs',
      );
    }
  }
}

