// A service's health record on disk (health.json): read by status, inspect and debug, written at
// each start and by the supervisor after each probe.
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import type { Plan } from '../../plan/plan.js';
import { servicePaths } from '../store.js';
import { initialHealth, parseHealthState, type HealthState } from './state.js';

/** null: no check, never probed, or a damaged file (the supervisor then starts over). */
export function readHealth(root: string, name: string): HealthState | null {
  try { return parseHealthState(JSON.parse(readFileSync(servicePaths(root, name).health, 'utf8'))); } catch { return null; }
}

export async function writeHealth(root: string, name: string, health: HealthState): Promise<void> {
  await writeFileAtomic(servicePaths(root, name).health, JSON.stringify(health), 0o600);
}

/** A fresh health record for a run that just started (or none, without a check). */
export async function resetHealth(root: string, name: string, plan: Plan, startedAt: number): Promise<void> {
  if (!plan.health) { rmSync(servicePaths(root, name).health, { force: true }); return; }
  // The probe history carries over, so that `niso debug` still shows why the last run was restarted.
  const before = readHealth(root, name);
  await writeHealth(root, name, { ...initialHealth(startedAt, plan.health), log: before?.log ?? [] });
}
