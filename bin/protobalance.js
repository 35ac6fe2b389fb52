#!/usr/bin/env -S node --no-node-snapshot
// The `protobalance` command. Runs the prebuilt bundle (dist/, made by `npm run build`,
// which `npm install` in a checkout and `npm pack` run) when it is up to date with the
// sources, or when there are no sources (an installed copy ships only dist/). Otherwise it
// runs the sources through tsx, so that a developer's edit is never hidden by a stale
// bundle. PROTOBALANCE_FROM_SOURCE=1 always runs the sources.
import { freshBundle } from './fresh-bundle.js';

if (freshBundle(new URL('../', import.meta.url))) {
  await import('../dist/cli.mjs');
} else {
  await import('./sources.js');
  await import('../app/cli.ts');
}
