// The default bound of a service's logs when its definition predates per-service limits.
export const DEFAULT_LOG_LIMITS_FOR_PUMP = { maxBytes: 10 * 1024 * 1024, files: 3 };
