// What `niso stats` and `niso top` use: one import for the CLI commands.
export { computeStats, statsJson, type CgroupSample, type HostTotals, type NetSample, type Stats, type StatsJson, type StatsRow } from './compute.js';
export { formatElapsed, formatIo, formatMemory, formatStatsTable, formatTopTable, REDRAW } from './format.js';
export { cgroupProcs, hostTotals, readCgroupSample, readNetSample, readProcsNet, readServiceSample } from './read.js';
export { sampleLoop, sampleOnce, StatsSampler, type SampleOptions, type StatsTarget, type Targets } from './sampler.js';
export { listProcesses, processRow, type ListProcessesOptions, type ProcessRow } from './top.js';
