/**
 * The built-in balancing algorithms. Each lives in its own pure module beside this file
 * (no Node APIs), registered by name; the core runs them through its algorithm runner.
 */
import { definePlugin } from 'protobalance';

const ALGORITHMS = ['round-robin', 'random', 'client-hash', 'connection-rate', 'traffic-rate'] as const;

export default definePlugin({
  name: 'builtin-balancers',
  apply(_hooks, api) {
    for (const name of ALGORITHMS) api.registerAlgorithm(name, new URL(`./${name}.ts`, import.meta.url));
    // `balance: 'policy:./policies/x.ts'`: minimum load by the user's load-rating function.
    api.registerAlgorithm('policy', new URL('./min-load.ts', import.meta.url), { argument: 'module' });
  },
});
