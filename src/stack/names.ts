// The names a stack gives on the host. A stack's service, network and volume keys are short names of its own
// (`db`, `default`, `pgdata`); on the host they become names that cannot meet another stack's: the service
// `<stack>.<service>`, the network and the volume `<stack>_<key>` (Compose's `<project>_default`). Stack and
// service names hold neither "." nor "_", so no two stacks can make the same host name from different parts.

export const STACK_NAME_MAX = 24;
export const SERVICE_NAME_MAX = 39;
/** `<stack>_default` must fit niso's network names (32 characters): hence 24 for the stack's name. */
export const NETWORK_NAME_MAX = 32;
export const VOLUME_NAME_MAX = 64;

export const STACK_NAME_RE = new RegExp(`^[a-z0-9][a-z0-9-]{0,${STACK_NAME_MAX - 1}}$`);
/** A DNS label (peers find it by this name), short enough that `<stack>.<service>` fits a niso service name (64). */
export const SERVICE_NAME_RE = new RegExp(`^[a-z0-9][a-z0-9-]{0,${SERVICE_NAME_MAX - 1}}$`);
/** A stack's network or volume key (the part after `<stack>_`). */
export const KEY_RE = /^[a-z0-9][a-z0-9-]*$/;
/** Compose's rule for profile names. */
export const PROFILE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
/** niso's own rules for names it is given as they are (external networks and volumes). */
export const HOST_NETWORK_RE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const HOST_VOLUME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The stack's implicit network: every service joins it unless it lists its networks. */
export const DEFAULT_NETWORK_KEY = 'default';

export const hostServiceName = (stack: string, service: string): string => `${stack}.${service}`;
export const hostNetworkName = (stack: string, key: string): string => `${stack}_${key}`;
export const hostVolumeName = (stack: string, key: string): string => `${stack}_${key}`;

/** The closest valid name to any text, for hints. */
export function suggestName(text: string, max: number, fallback: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, max).replace(/-+$/, '');
  return s === '' ? fallback : s;
}

/** Why a text is not a name of this kind, or null. */
export function nameProblem(text: string, re: RegExp, max: number): string | null {
  if (re.test(text)) return null;
  if (text === '') return 'is empty';
  if (text.length > max) return `is ${text.length} characters long (at most ${max})`;
  // Name what a fix would change: upper case, and "." or "_" (niso's separators), before anything else.
  const fixed = text.toLowerCase().replace(/[._]/g, '-');
  if (re.test(fixed)) {
    const parts: string[] = [];
    if (/[A-Z]/.test(text)) parts.push('upper-case letters');
    const sep = [...new Set(text.match(/[._]/g) ?? [])];
    if (sep.length > 0) parts.push(`${sep.map((c) => `"${c}"`).join(' and ')} (niso puts ${sep.length > 1 ? 'them' : 'it'} between a stack's name and its parts)`);
    return `has ${parts.join(' and ')}`;
  }
  if (!/^[a-z0-9]/i.test(text)) return 'does not start with a lower-case letter or a digit';
  return `has characters other than lower-case letters, digits and "-"`;
}
