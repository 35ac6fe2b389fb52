// A worker process of the group (core/workers/group.ts forks this file). Registers the
// TypeScript loader, as bin/protobalance.js does, then runs the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
