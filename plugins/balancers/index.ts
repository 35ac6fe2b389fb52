/**
 * The built-in balancing algorithms. Each lives in its own pure module beside this file
 * (no Node APIs), registered by name; the core runs them through its algorithm runner.
 */
import { definePlugin } from 'protobalance';

/**
 * Set by the package build (scripts/build.mjs): the folder, relative to the bundled code,
 * of the algorithm modules it prebuilt. From the sources they sit beside this file.
 */
declare const __PB_ALGORITHMS__: string | undefined;
const moduleUrl = (name: string) =>
  typeof __PB_ALGORITHMS__ === 'string'
    ? new URL(`${__PB_ALGORITHMS__}${name}.mjs`, import.meta.url)
    : new URL(`./${name}.ts`, import.meta.url);

const ALGORITHMS = ['round-robin', 'random', 'client-hash', 'connection-rate', 'traffic-rate'] as const;

export default definePlugin({
  name: 'builtin-balancers',
  apply(_hooks, api) {
    // client-hash's late choices are made by the same hash here: twins must agree on every client.
    for (const name of ALGORITHMS) api.registerAlgorithm(name, moduleUrl(name), name === 'client-hash' ? { inProcessFallback: true } : {});
    // `balance: 'policy:./policies/x.ts'`: minimum load by the user's load-rating function.
    api.registerAlgorithm('policy', moduleUrl('min-load'), { argument: 'module' });
  },
});
