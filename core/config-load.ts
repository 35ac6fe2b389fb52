/**
 * Finding and loading the config file with cosmiconfig: `protobalance.config.ts` (also
 * `.mts`, `.js`, `.mjs`, `.cjs`, `.json`), `.protobalancerc*`, or a `protobalance` key in
 * package.json. TypeScript configs are transpiled by esbuild (milliseconds; the TypeScript
 * compiler would cost far more at start-up) into a temporary module beside the original,
 * so that its relative imports resolve as written, then imported fresh.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { transform } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { validateConfig } from './config-validate.ts';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import type { ResolvedConfig } from './types.ts';

export const MODULE_NAME = 'protobalance';

let loadCount = 0;

/** Imports a module fresh each time (a query defeats the loader's cache) so reloads see edits. */
const importFresh: Loader = async (filepath) => {
  const url = `${pathToFileURL(filepath).href}?v=${++loadCount}`;
  const mod = (await import(url)) as { default?: unknown };
  return mod.default ?? mod;
};

/** Temporary transpiled configs are named so; file watchers must ignore them. */
export const TEMP_CONFIG_PREFIX = '.protobalance-config-';

const importTypeScript: Loader = async (filepath) => {
  const source = await readFile(filepath, 'utf8');
  const { code } = await transform(source, {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: filepath,
    sourcemap: 'inline',
  });
  const temp = path.join(path.dirname(filepath), `${TEMP_CONFIG_PREFIX}${process.pid}-${++loadCount}.mjs`);
  await writeFile(temp, code);
  try {
    return await importFresh(temp, code);
  } finally {
    await rm(temp, { force: true });
  }
};

const SEARCH_PLACES = [
  'package.json',
  `${MODULE_NAME}.config.ts`,
  `${MODULE_NAME}.config.mts`,
  `${MODULE_NAME}.config.js`,
  `${MODULE_NAME}.config.mjs`,
  `${MODULE_NAME}.config.cjs`,
  `${MODULE_NAME}.config.json`,
  `.${MODULE_NAME}rc`,
  `.${MODULE_NAME}rc.json`,
  `.${MODULE_NAME}rc.ts`,
  `.${MODULE_NAME}rc.js`,
  `.${MODULE_NAME}rc.mjs`,
];

function explorer() {
  return cosmiconfig(MODULE_NAME, {
    searchPlaces: SEARCH_PLACES,
    cache: false,
    searchStrategy: 'none',
    loaders: { '.ts': importTypeScript, '.mts': importTypeScript, '.js': importFresh, '.mjs': importFresh, '.cjs': importFresh },
  });
}

/** The raw config object and the file it came from. */
export async function readConfigFile(file?: string, cwd = process.cwd()): Promise<{ raw: unknown; filepath: string }> {
  const target = file ? path.resolve(cwd, file) : undefined;
  if (target && !existsSync(target)) {
    throw pbError(ErrorCodes.CONFIG_NOT_FOUND, `config file not found: ${target}`);
  }
  let result;
  try {
    result = target ? await explorer().load(target) : await explorer().search(cwd);
  } catch (err) {
    throw pbError(ErrorCodes.CONFIG_LOAD, `cannot load config ${target ?? `from ${cwd}`}: ${describeError(err)}`, {
      cause: err,
    });
  }
  if (!result) {
    throw pbError(
      ErrorCodes.CONFIG_NOT_FOUND,
      `no config found in ${cwd} (looked for ${MODULE_NAME}.config.ts/.js/.mjs/.json and a "${MODULE_NAME}" key in package.json)`,
    );
  }
  if (result.isEmpty) throw pbError(ErrorCodes.CONFIG_INVALID, `${result.filepath}: the config is empty`);
  return { raw: result.config, filepath: result.filepath };
}

/** Find (or take `file`), load and validate the config. */
export async function loadConfig(file?: string, cwd?: string): Promise<ResolvedConfig> {
  const { raw, filepath } = await readConfigFile(file, cwd);
  try {
    return validateConfig(raw, filepath);
  } catch (err) {
    if (isProtoBalanceError(err)) throw err;
    throw pbError(ErrorCodes.CONFIG_INVALID, `${filepath}: ${describeError(err)}`, { cause: err });
  }
}
