// A module resolve hook for running from the sources: `protobalance` (and its public
// subpaths) is the TypeScript entry of this checkout, from whatever file imports it. The
// package's `exports` name the built files, which a checkout may not have, or may have
// stale; and a plugin's own copy of protobalance must never be loaded beside this one.
// The built-in plugins (plugins/) get only the helpers they use, as in the prebuilt
// bundle (scripts/build.mjs): the whole entry would load the admin server, the process
// group and the rest into every worker.
const url = (file) => new URL(`../${file}`, import.meta.url).href;
const ENTRIES = {
  protobalance: url('core/index.ts'),
  'protobalance/builtins': url('app/builtins.ts'),
};
/** What the built-in plugins get as `protobalance` (the build uses the same list). */
export const PLUGIN_API_FILES = ['core/define.ts', 'core/lazy-builtin.ts'];
const PLUGINS = url('plugins/');
const PLUGIN_API = `data:text/javascript,${encodeURIComponent(PLUGIN_API_FILES.map((f) => `export * from ${JSON.stringify(url(f))};`).join('\n'))}`;

export async function resolve(specifier, context, next) {
  if (specifier === 'protobalance' && context.parentURL?.startsWith(PLUGINS)) return { url: PLUGIN_API, format: 'module', shortCircuit: true };
  const entry = ENTRIES[specifier];
  return entry ? { url: entry, format: 'module', shortCircuit: true } : next(specifier, context);
}
