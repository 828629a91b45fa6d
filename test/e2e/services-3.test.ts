// The embedded backend's service suite (services-suite.ts), case 3 of every 3: the suite's cases run one after the
// other and took half an hour as one file, the whole run's critical path; as three files they run side by side.
process.env.NISO_E2E_SHARD = '3/3';
await import('./services-suite.js');
