// The HTTP headers of the distribution API that carry protocol: WWW-Authenticate challenges, Link pagination,
// Retry-After, an upload's Range, and OCI error bodies; parsed without trusting the registry that sent them.

export interface Challenge { scheme: string; params: Record<string, string> }

/**
 * RFC 7235 challenges: `Bearer realm="…",service="…",scope="…"`, `Basic realm="…"`, several in one header. Quoted
 * strings may hold commas and escaped quotes; parameter names are case-insensitive.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header.slice(0, 8192);
  const skipWs = () => { while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++; };
  const token = () => { const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(s.slice(i)); if (!m) return ''; i += m[0].length; return m[0]; };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const save = i;
      const name = token();
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (!name || s[i] !== '=') { i = save; break; }
      i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        value = token();
      }
      ch.params[name.toLowerCase()] = value;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (s[i] === ',') {
        i++;
        // A comma also ends a challenge: the next word is a scheme when no "=" follows it.
        const look = i;
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        const t = token();
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        const isParam = t !== '' && s[i] === '=' && s[i + 1] !== '=';
        i = look;
        if (!isParam) break;
      } else break;
    }
  }
  return out;
}

/** The `rel="next"` target of a Link header, resolved against the URL the page came from. */
export function nextLink(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel="?next"?\s*(?:;|$)/i.test(m[2]!)) {
      try { return new URL(m[1]!, base).href; } catch { return null; }
    }
  }
  return null;
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null) return null;
  const t = header.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const at = Date.parse(t);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * How many bytes an upload session holds, from its `Range: 0-END`. distribution 2.8 says `0-0` for an empty
 * session as well as for one byte; niso never sends a one-byte chunk, so `0-0` is read as empty.
 */
export function uploadOffset(header: string | null): number | null {
  if (header === null) return null;
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header.trim());
  if (!m) return null;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

/** The `errors` of an OCI error body, as `CODE: message` lines; empty when the body is not one. */
export function ociErrors(body: string): { code: string; message: string }[] {
  try {
    const j = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(j.errors)) return [];
    return j.errors.slice(0, 10).flatMap((e: unknown) => {
      if (e === null || typeof e !== 'object') return [];
      const o = e as Record<string, unknown>;
      return [{ code: String(o.code ?? 'UNKNOWN').slice(0, 64), message: String(o.message ?? '').slice(0, 300) }];
    });
  } catch {
    return [];
  }
}
