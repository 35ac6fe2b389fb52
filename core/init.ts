/**
 * `protobalance init`: scaffold a user's project (the files are in init-templates.ts).
 * Contract: either every file is written or none is. Without `force`, if any of the files
 * already exists nothing is written and a PB_ERR_INIT_EXISTS error names them all; with
 * `force` they are overwritten. Other files of the folder are never touched.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, pbError } from './errors.ts';
import { INIT_TEMPLATES } from './init-templates.ts';

export interface InitOptions {
  /** Overwrite files that exist (default false: refuse and write nothing). */
  force?: boolean;
}

export interface InitResult {
  /** The files written, relative to the project folder, in template order. */
  written: string[];
  /** Those of them that existed before (overwritten; only with `force`). */
  overwritten: string[];
}

/** Write the project files into `dir` (made if missing). */
export function initProject(dir: string, options: InitOptions = {}): InitResult {
  const root = path.resolve(dir);
  const existing = INIT_TEMPLATES.map((t) => t.path).filter((p) => existsSync(path.join(root, p)));
  if (existing.length > 0 && !options.force) {
    throw pbError(
      ErrorCodes.INIT_EXISTS,
      `${root}: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing written (--force overwrites)`,
    );
  }
  const written: string[] = [];
  for (const t of INIT_TEMPLATES) {
    const file = path.join(root, t.path);
    mkdirSync(path.dirname(file), { recursive: true });
    // 'wx' without force: a file that appeared since the check above is not clobbered.
    writeFileSync(file, t.text, { flag: options.force ? 'w' : 'wx' });
    written.push(t.path);
  }
  return { written, overwritten: existing };
}

/** What the command prints: the files and the next steps. */
export function describeInit(dir: string, result: InitResult): string {
  const root = path.resolve(dir);
  const width = Math.max(...INIT_TEMPLATES.map((t) => t.path.length));
  const lines = INIT_TEMPLATES.filter((t) => result.written.includes(t.path)).map(
    (t) => `  ${t.path.padEnd(width)}  ${t.about}${result.overwritten.includes(t.path) ? ' (overwritten)' : ''}`,
  );
  return [
    `Wrote in ${root}:`,
    ...lines,
    '',
    'Next:',
    ...(root === process.cwd() ? [] : [`  cd ${root}`]),
    '  npx protobalance start         serve on 127.0.0.1:8080 (Ctrl-C stops it)',
    '  curl http://127.0.0.1:8080/    from another shell: nodes a and b share the requests (the fewest open connections wins)',
    '  npm install -D typescript      then  npx tsc --noEmit  type-checks the config and the policy',
    'Keep .protobalance/ (state, admin token) out of version control.',
  ].join('\n');
}
