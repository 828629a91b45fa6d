// The names of the units niso writes for a service, in one place: the renderers name them, and the systemd backend
// starts, stops, shows and removes them by these names.

/** The app itself. */
export const unitName = (service: string) => `niso-${service}.service`;
/** The crash-loop retry (render/systemd.ts). */
export const backoffTimerName = (service: string) => `niso-${service}-backoff.timer`;
/** The private network (render/systemd-net.ts). */
export const netUnitName = (service: string) => `niso-${service}-net.service`;
/** The health check and its timers (render/systemd-health.ts). */
export const healthServiceName = (service: string) => `niso-${service}-health.service`;
export const healthTimerName = (service: string) => `niso-${service}-health.timer`;
export const healthStartTimerName = (service: string) => `niso-${service}-health-start.timer`;
