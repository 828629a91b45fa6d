// TEST-ONLY: NISO_TEST_CRASH_AT=<step> makes niso SIGKILL itself at that step of a service start or of a switch, so that tests can
// kill `activate` between any two of its steps, for real, and check that what it leaves behind is told truthfully and
// recovered (test/e2e/services.test.ts). Inert unless the variable is set; the supervisor is started without it.

/** The steps, in the order a start passes them (which exist depends on the backend; see the callers). */
export const CRASH_STEPS = ['defined', 'attached', 'installed', 'started', 'recorded'] as const;
export type CrashStep = typeof CRASH_STEPS[number];

export const CRASH_ENV = 'NISO_TEST_CRASH_AT';

/**
 * The switch engine's points (generation/switch.ts), one after each line of its journal is on the disk:
 * `switch:begin`, `switch:step:<i>:start`, `switch:step:<i>:done`, `switch:gate`, `switch:revert:<i>:start`, ...,
 * `switch:commit`.
 */
export type SwitchCrashStep = `switch:${string}`;

/**
 * Inside a snapshot a switch takes or restores (volume/snapshot.ts): `snapshot:complete` (made whole under its hidden
 * name, not yet renamed into place), `snapshot-restore:aside` (the live data moved aside, the copy not yet in place).
 */
export type SnapshotCrashStep = 'snapshot:complete' | 'snapshot-restore:aside';

export function crashPoint(env: Readonly<Record<string, string | undefined>>, step: CrashStep | SwitchCrashStep | SnapshotCrashStep): void {
  if (env[CRASH_ENV] === step) process.kill(process.pid, 'SIGKILL');
}
