// Whether a relative symlink stays inside its tree: shared by the package index, the runtime download and volume
// backups, and kept apart from package-index.ts so that `niso run` (runtime/packument.ts) does not load zod with it.
/** Whether a symlink at `linkPath` pointing at `target` resolves inside the tree it is in, following `..` lexically. */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith('/') || target.includes('\0')) return false;
  const parts = linkPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else parts.push(seg);
  }
  return true;
}
