// The bound of a service's journal: the one default that pump, host config and supervisor share.

/** A journal is rotated before it would grow past maxBytes; `files` journals are kept (the live one included). */
export interface LogLimits { maxBytes: number; files: number }

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_FILES = 3;
export const DEFAULT_LOG_LIMITS: LogLimits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
