// Preloaded (`node -r`) into the Jazzer.js process by bench/fuzz/run.ts when the addon
// @jazzer.js/fuzzer ships cannot load here (its prebuild needs glibc 2.38): any load of a
// file under @jazzer.js/fuzzer/prebuilds/ loads the addon that bench/fuzz/runner/native.ts
// built (PB_JAZZER_ADDON) instead. node_modules is left as npm wrote it.
'use strict';
const Module = require('node:module');

const built = process.env.PB_JAZZER_ADDON;
if (built) {
  const loadNative = Module._extensions['.node'];
  Module._extensions['.node'] = function (module, filename) {
    const prebuilt = /[\\/]@jazzer\.js[\\/]fuzzer[\\/]prebuilds[\\/]/.test(filename);
    return loadNative.call(this, module, prebuilt ? built : filename);
  };
}
