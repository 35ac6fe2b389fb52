/** Whether the prebuilt bundle under `root` (a folder URL ending in '/') is up to date with its sources. */
export function freshBundle(root: URL, env?: Record<string, string | undefined>): boolean;
