#!/usr/bin/env -S node --no-node-snapshot
// The `protobalance` command. Runs the prebuilt bundle (dist/, made by `npm run build` at
// install) when it is up to date with the sources; otherwise registers the TypeScript
// loader and runs the sources, so that a developer's edit is never hidden by a stale
// bundle. PROTOBALANCE_FROM_SOURCE=1 always runs the sources.
import { freshBundle } from './fresh-bundle.js';

if (freshBundle(new URL('../', import.meta.url))) {
  await import('../dist/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../core/cli.ts');
}
