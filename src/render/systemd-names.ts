// The names of the units niso writes for a service, in one place: the renderers name them, and the systemd backend
// starts, stops, shows and removes them by these names.

/** The app itself. */
export const unitName = (service: string) => `niso-${service}.service`;
/**
 * The restart policy, run when the app's unit ends (render/systemd-exit.ts): a template, with one instance for its
 * OnFailure=, one for its OnSuccess= (the same unit in both would be two trigger sources for systemd) and one for
 * the OnFailure= of its network unit.
 */
export const exitServiceName = (service: string) => `niso-${service}-exit@.service`;
export const exitInstanceName = (service: string, on: 'failure' | 'success' | 'net') => `niso-${service}-exit@${on}.service`;
/** The delayed restart: a transient timer (`systemd-run --on-active=`) named after the unit it starts. */
export const retryTimerName = (service: string) => `niso-${service}.timer`;
/** The init step, run before each start of the app's unit while its condition holds (render/systemd.ts). */
export const initUnitName = (service: string) => `niso-${service}-init.service`;
/**
 * Whether the init step is due: a oneshot that runs `niso __init-needed` on the host before the init unit and leaves
 * INIT_DUE_FILE (in the service's files dir) while it is, which the init unit's ConditionPathExists= reads.
 */
export const initCheckUnitName = (service: string) => `niso-${service}-init-check.service`;
export const INIT_DUE_FILE = 'init-due';
/** Where a service's /tmp is mounted on the host, in its files dir (render/systemd.ts sharedTmp): exec binds it too. */
export const SHARED_TMP_DIR = 'tmp';
/** The private network (render/systemd-net.ts). */
export const netUnitName = (service: string) => `niso-${service}-net.service`;
/**
 * Left by the niso command that attached a service's network itself right before it started the unit: the network
 * unit's next start removes it and is done, instead of running niso again (render/systemd-net.ts). In /run, so that
 * no boot finds one; named after the service's namespace (its root and name).
 */
export const netReadyFile = (netnsPath: string) => `/run/niso/net-ready/${netnsPath.slice(netnsPath.lastIndexOf('/') + 1)}`;
/** The health check and its timers (render/systemd-health.ts). */
export const healthServiceName = (service: string) => `niso-${service}-health.service`;
export const healthTimerName = (service: string) => `niso-${service}-health.timer`;
export const healthStartTimerName = (service: string) => `niso-${service}-health-start.timer`;

/** Where a unit's ExecStopPost= keeps its cgroup's limit counters (in its files dir): niso's exit unit reads them. */
export const LIMIT_COUNTERS_FILE = 'limits';
/** Waits for a stack service's `healthy` and `completed` dependencies before each start (render/systemd-deps.ts). */
export const depsUnitName = (service: string) => `niso-${service}-deps.service`;
