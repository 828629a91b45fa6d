// A client for one repository as this host's settings make it: plain HTTP only where allowed, credentials from the
// command line or found in the usual files (looked up only when the registry asks).
import type { Reference } from '../reference.js';
import { plainHttpAllowed } from './config.js';
import { findCredentials } from './credentials.js';
import { RegistryHttp, type Creds } from './http.js';
import { RegistryClient } from './client.js';

export interface RegistryEnv {
  root: string;
  env: Readonly<Record<string, string | undefined>>;
  warn: (message: string) => void;
  /** --creds / --password-stdin: used instead of any file. */
  creds?: Creds;
}

export function connect(ref: Reference, e: RegistryEnv): RegistryClient {
  const plainHttp = plainHttpAllowed(e.root, ref.registry);
  // A broken registries.toml is reported by the first request, which awaits this; until then it is not unhandled.
  plainHttp.catch(() => undefined);
  const http = new RegistryHttp({
    registry: ref.registry,
    apiHost: ref.apiHost,
    plainHttp,
    warn: e.warn,
    // Only an https host looks for its TLS files: a plain-HTTP loopback registry loads none of it.
    tlsFor: async (host) => (await import('./tls-files.js')).tlsFilesFor(e.root, host),
    credentials: async () => {
      if (e.creds) return e.creds;
      return (await findCredentials(ref.registry, ref.repository, e))?.creds ?? null;
    },
  });
  return new RegistryClient(http, ref.repository, ref.registry);
}
