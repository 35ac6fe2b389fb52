/** A worker process of the group, handed the same built-in plugins as the primary. */
import { runWorker } from '../core/workers/worker-main.ts';
import { builtinPlugins } from './builtins.ts';

runWorker({ builtins: builtinPlugins() });
