// A module resolve hook for running from the sources: `protobalance` (and its public
// subpaths) is the TypeScript entry of this checkout, from whatever file imports it. The
// package's `exports` name the built files, which a checkout may not have, or may have
// stale; and a plugin's own copy of protobalance must never be loaded beside this one.
const ENTRIES = {
  protobalance: new URL('../core/index.ts', import.meta.url).href,
  'protobalance/builtins': new URL('../app/builtins.ts', import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const url = ENTRIES[specifier];
  return url ? { url, format: 'module', shortCircuit: true } : next(specifier, context);
}
