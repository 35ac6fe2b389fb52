// A worker process of the group, from the sources (app/builtins.ts names this file when
// the prebuilt bundle is not running): registers the TypeScript loader, as
// bin/protobalance.js does, then runs the worker.
await import('../bin/sources.js');
await import('./worker.ts');
