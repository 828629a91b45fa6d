// The values of `niso logs --since/--until`: a duration back from now or a date and time.
// Pure: the caller passes the clock.
import { NisoError } from '../../errors/niso-error.js';
import { parseDuration } from '../../manifest/units.js';

const HINT = 'write a duration back from now (45s, 10m, 1h30m, 2d) or a date and time (2026-11-23T10:00:00Z, "2026-11-23 10:00" in local time, 2026-11-23)';

// Date, then optionally a time (T or space), fraction of a second and zone (Z or ±HH:MM).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `45s`, `10m`, `1h30m`, `2d` → that long before `now`; `2026-11-23T10:00:00Z` (RFC 3339),
 * `2026-11-23 10:00[:SS]` and `2026-11-23` → that time, local time when no zone is given.
 * `option` names the flag in errors.
 */
export function parseTimeArg(text: string, now: Date, option = '--since/--until'): Date {
  const s = text.trim();
  const fail = (why: string) => new NisoError('NISO3310', `${option} "${text}" ${why}`, { hint: HINT, exitCode: 2 });
  if (s === '') throw fail('is empty');
  if (/^\d/.test(s) && /[a-z]$/i.test(s) && !s.includes('-')) {
    const d = parseDuration(s);
    if (!d.ok) throw fail(d.message.startsWith(`"${s}" is longer`) ? 'is longer than a year' : 'is not a duration');
    return new Date(now.getTime() - d.value);
  }
  if (/^\d+(\.\d+)?$/.test(s)) throw new NisoError('NISO3310', `${option} "${text}" has no unit`, { hint: `add a unit, e.g. "${s}s" or "${s}m"; ${HINT}`, exitCode: 2 });
  const m = DATE_TIME.exec(s);
  if (!m) throw fail('is not a duration or a date and time');
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(sec);
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12) throw fail(`has no month ${month}`);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) throw fail(`has no day ${day} in that month`);
  if (hour > 23 || minute > 59 || second > 59) throw fail('is not a valid time of day');
  if (zone === undefined) {
    const local = new Date(2000, month - 1, day, hour, minute, second, ms);
    local.setFullYear(year); // the Date constructor maps years 0-99 to 1900-1999
    return local;
  }
  const utcDate = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  utcDate.setUTCFullYear(year);
  const utc = utcDate.getTime();
  if (zone === 'Z' || zone === 'z') return new Date(utc);
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  if (Number(z[2]) > 23 || Number(z[3]) > 59) throw fail(`has an invalid zone offset ${zone}`);
  const offsetMin = Number(z[2]) * 60 + Number(z[3]);
  return new Date(utc - (z[1] === '-' ? -1 : 1) * offsetMin * 60_000);
}
