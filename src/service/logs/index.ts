// The log subsystem of services in one import: sinks for the launcher, the pump for the
// supervisor, the reader, and the pieces of `niso logs`.
export { openLogSinks, RAW_FILES, JOURNAL_FILE } from './files.js';
export { LogPump, drainLogs, DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_FILES, LOG_POLL_MS, APPROXIMATE_AFTER_MS, PUNCH_THRESHOLD_BYTES, type LogLimits, type DrainResult } from './pump.js';
export { readLogs, FOLLOW_POLL_MS, type LogRecord, type LogSource, type ReadLogsOptions } from './reader.js';
export { parseTimeArg } from './time-arg.js';
export { formatLogRecord, logPrefixes } from './format.js';
export { MAX_RECORD_TEXT } from './journal-format.js';
