// What `niso remove SERVICE` does to a service's data, on both backends: its volume grants end; its /state and its
// own volumes (SERVICE/KEY) stay for a later service of the name, or with --volumes (`docker rm -v`) are deleted.
import { releaseState } from '../service/state-dir.js';
import { ownVolumeNames, removeVolume, revokeGrants } from './store.js';

/**
 * Called with the service's lock held, once it is known not to run. Own volumes go before the state: one that a run of
 * another name still holds stops the removal (NISO5006) before anything is deleted.
 */
export async function releaseServiceData(root: string, service: string, deleteData: boolean): Promise<{ removedVolumes: string[] }> {
  await revokeGrants(root, service);
  const removedVolumes: string[] = [];
  if (deleteData) {
    for (const name of ownVolumeNames(root, service)) if (await removeVolume(root, name, { force: false })) removedVolumes.push(name);
  }
  await releaseState(root, service, deleteData);
  return { removedVolumes };
}
