/**
 * The built-in balancing algorithms. Each lives in its own pure module beside this file
 * (no Node APIs), registered by name; the core runs them through its algorithm runner.
 */
import { definePlugin } from 'protobalance';
import { PACKAGE_ROOT } from '../../core/paths.ts';

/** Found from the package root, so that the prebuilt bundle finds them too. */
const moduleUrl = (name: string) => new URL(`plugins/balancers/${name}.ts`, PACKAGE_ROOT);

const ALGORITHMS = ['round-robin', 'random', 'client-hash', 'connection-rate', 'traffic-rate'] as const;

export default definePlugin({
  name: 'builtin-balancers',
  apply(_hooks, api) {
    for (const name of ALGORITHMS) api.registerAlgorithm(name, moduleUrl(name));
    // `balance: 'policy:./policies/x.ts'`: minimum load by the user's load-rating function.
    api.registerAlgorithm('policy', moduleUrl('min-load'), { argument: 'module' });
  },
});
