/** What tests hand the core, as app/ does for the command: the built-in plugins and the worker program. */
import { affinityLookup, builtinPlugins, workerEntry } from '../../app/builtins.ts';

export { affinityLookup, builtinPlugins };

/** The ProcessGroup options that bring in the built-ins, in the primary and in workers. */
export function withBuiltins() {
  return { workerEntry, balancer: { builtins: builtinPlugins() } };
}
