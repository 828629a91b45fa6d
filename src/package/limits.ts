// How much an install may unpack: defaults, raised or lowered by host config and flags.
export interface Limits { maxBytes: number; maxFiles: number }

export const DEFAULT_LIMITS: Limits = { maxBytes: 8 * 1024 ** 3, maxFiles: 500_000 };
