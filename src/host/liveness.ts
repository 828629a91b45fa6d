// Whether the process that owns a leftover (a work dir, a cgroup, a temporary package) still runs:
// leftovers of dead owners are swept, those of live ones never.

/** EPERM means the process exists but belongs to someone else: alive. */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
