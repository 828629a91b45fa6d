// niso's version, put into the bundle by scripts/build.mjs (NISO_VERSION); "0.0.0-dev" when run from source.
declare const NISO_VERSION: string;
export const VERSION = typeof NISO_VERSION === 'string' ? NISO_VERSION : '0.0.0-dev';
