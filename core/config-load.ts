/**
 * Finding and loading the config file with cosmiconfig: `protobalance.config.ts` (also
 * `.mts`, `.js`, `.mjs`, `.cjs`, `.json`), `.protobalancerc*`, or a `protobalance` key in
 * package.json. JavaScript and TypeScript configs are imported fresh (see import-fresh.ts),
 * so a reload sees the edited file.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cosmiconfig, type Loader } from 'cosmiconfig';
import { importFresh } from './import-fresh.ts';
import { validateConfig } from './config-validate.ts';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import type { ResolvedConfig } from './types.ts';

export const MODULE_NAME = 'protobalance';

const importConfig: Loader = async (filepath) => {
  const mod = await importFresh(filepath);
  return mod.default ?? mod;
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
    loaders: { '.ts': importConfig, '.mts': importConfig, '.js': importConfig, '.mjs': importConfig, '.cjs': importConfig },
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
    // Plugins load with the generation, which checks their fields (resolvePluginFields).
    return validateConfig(raw, filepath, { plugins: 'later' });
  } catch (err) {
    if (isProtoBalanceError(err)) throw err;
    throw pbError(ErrorCodes.CONFIG_INVALID, `${filepath}: ${describeError(err)}`, { cause: err });
  }
}
