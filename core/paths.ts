/**
 * The package's root folder. Computed from a file one folder below the root, which holds
 * both for the sources (core/) and the prebuilt bundle (dist/), so files found from it
 * (algorithm modules the sandbox bundles, package.json) are found either way.
 */
export const PACKAGE_ROOT = new URL('../', import.meta.url);

/** Set to true by the build (scripts/build.mjs) in the prebuilt bundle. */
declare const __PB_BUNDLED__: boolean | undefined;
export const BUNDLED: boolean = typeof __PB_BUNDLED__ !== 'undefined' && __PB_BUNDLED__;
