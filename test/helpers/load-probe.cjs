// Preloaded (NODE_OPTIONS=--require) into a process and the workers it forks: appends every
// module the process loads to $PB_LOAD_PROBE_DIR/<pid>.txt, one a line: the files required
// (CommonJS, with createRequire too) and the URLs imported (ES modules, through a loader
// hook). For tests of what a process loads, not of how fast.
const { appendFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const out = path.join(process.env.PB_LOAD_PROBE_DIR, `${process.pid}.txt`);
const original = Module._load;
Module._load = function load(request, parent, isMain) {
  const loaded = original.apply(this, arguments);
  if (!Module.isBuiltin(request)) {
    try {
      appendFileSync(out, `${pathToFileURL(Module._resolveFilename(request, parent, isMain)).href}\n`);
    } catch {
      // resolved once already, or not a file: loading it worked, which is all that matters
    }
  }
  return loaded;
};
Module.register(pathToFileURL(path.join(__dirname, 'load-probe-hooks.mjs')).href, { data: { out } });
