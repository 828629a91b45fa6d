// The table of stable error codes. A code is never reused or renumbered: scripts and docs key on it.
// Families: 1xxx manifest, 2xxx package/store, 3xxx sandbox/backend, 4xxx network, 5xxx stack/volume,
// 6xxx generation, 7xxx registry, 8xxx fleet, 9xxx command line and internal.

export interface ErrorCodeInfo {
  title: string;
  /** What it means and how to fix it; printed by `niso explain CODE`. */
  explain: string;
}

export const ERROR_CODES: Readonly<Record<string, ErrorCodeInfo>> = {
  // --- 1xxx: manifest.toml ------------------------------------------------------------------
  NISO1001: { title: 'TOML syntax error', explain: 'The file is not valid TOML, so niso could not read any field from it. The position points at the first character the TOML parser could not accept. Common causes: a missing closing quote or bracket, a key defined twice, a value on the line after its `=`.' },
  NISO1002: { title: 'unknown key', explain: 'The manifest has a key that niso does not know in this table. niso refuses unknown keys instead of ignoring them, so that a typo (`entrypiont`) cannot silently change what runs. Rename the key to the suggested one, or remove it. The manifest reference lists every key.' },
  NISO1003: { title: 'wrong value type', explain: 'A field has a value of the wrong TOML type, e.g. a number where a string is expected (`version = 1.0` instead of `version = "1.0.0"`) or a string where a list is expected (`args = "server.js"` instead of `args = ["server.js"]`).' },
  NISO1004: { title: 'missing required field', explain: 'A required field is absent. Every manifest needs `[package] name` and `version`, and `[binary] entrypoint`.' },
  NISO1005: { title: 'value not allowed', explain: 'The field accepts only a fixed set of values and the one given is not among them. The message lists the accepted values and suggests the closest one.' },
  NISO1006: { title: 'number out of range', explain: 'A number is outside the range the field accepts (e.g. a negative retry count, or a CPU count of 0).' },
  NISO1007: { title: 'manifest not found', explain: 'There is no manifest.toml where niso looked. Run `niso init` to write one, or pass the app directory that contains it.' },
  NISO1101: { title: 'invalid package name', explain: 'Package names are 1-64 characters of lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit. They become file names, store paths and registry repository names, so no other characters are allowed.' },
  NISO1102: { title: 'invalid version', explain: 'Package versions follow Semantic Versioning 2.0: MAJOR.MINOR.PATCH with optional pre-release and build parts, e.g. `1.0.0`, `2.1.3-rc.1`. A two-part version like `1.0` is not valid; write `1.0.0`.' },
  NISO1103: { title: 'invalid runtime', explain: '`[runtime] use` names a language runtime on the host as `NAME:VERSION`, e.g. `nodejs:20` or `python:3.12`. Leave out the whole `[runtime]` table for a self-contained binary.' },
  NISO1201: { title: 'invalid port mapping', explain: 'A port mapping is `"HOST:CONTAINER"`, optionally prefixed with a host address and suffixed with a protocol: `"8080:3000"`, `"127.0.0.1:8080:3000"`, `"[::1]:8080:3000"`, `"5353:53/udp"`, or a range of the same length on both sides: `"9000-9010:9000-9010"`.' },
  NISO1202: { title: 'port out of range', explain: 'Ports are whole numbers from 1 to 65535, and a range must run from low to high.' },
  NISO1203: { title: 'duplicate port', explain: 'The same host port (and protocol and address) is mapped twice, or a container port appears in two mappings. Each host port can be mapped only once.' },
  NISO1301: { title: 'invalid duration', explain: 'Durations are written as a number with a unit: `500ms`, `30s`, `5m`, `1h`, or combined as `1m30s`. A bare number is not accepted because its unit would be ambiguous.' },
  NISO1302: { title: 'invalid size', explain: 'Sizes are a number of bytes or a number with a unit: `512M`, `1G`, `64k`, `1.5GiB`, `256MB`. Units are powers of 1024 (K, M, G, T, with or without `iB`/`B`).' },
  NISO1401: { title: 'invalid environment variable', explain: 'Environment variable names are letters, digits and `_`, not starting with a digit. Values must be strings: quote numbers (`PORT = "3000"`).' },
  NISO1402: { title: 'invalid path', explain: 'Paths inside the sandbox (working directory, volume mount points) must be absolute, normalised (no `.`, `..` or `//`), and must not hide the directories niso manages (`/app`, `/proc`, `/dev`, `/tmp` for mounts). Paths inside the app (`entrypoint`, `[copy]` patterns) must be relative and stay inside the app.' },
  NISO1403: { title: 'invalid pattern', explain: '`[copy] include` and `exclude` take glob patterns relative to the app directory, like `src/**`, `*.js`, `node_modules/**`. Patterns must not be absolute or climb out of the app with `..`.' },
  NISO1404: { title: 'invalid health check', explain: 'A `[healthcheck]` needs exactly one probe: `http = "http://127.0.0.1:3000/health"`, `tcp = 3000` (or `"127.0.0.1:3000"`), or `exec = ["cmd", "arg"]`. An http probe must be an http:// URL.' },
  NISO1405: { title: 'inconsistent settings', explain: 'Two fields contradict each other, e.g. `max_retries` with a restart policy other than `on-failure`, or a health check timeout longer than its interval.' },
  NISO1501: { title: 'file already exists', explain: '`niso init` never overwrites existing files. Move them away or pass `--force` to overwrite.' },
  NISO1502: { title: 'unknown template', explain: '`niso init --template` accepts node, python, rust, go and binary.' },

  // --- 2xxx: packages and the store ---------------------------------------------------------
  NISO2001: { title: 'app directory not usable', explain: 'The directory to pack does not exist, is not a directory, or cannot be read.' },
  NISO2002: { title: 'symlink leaves the app', explain: 'A symbolic link in the app points outside the app directory (or is absolute). niso never follows links out of the app, because the package would then depend on the machine it was packed on. Replace the link with the file it points to, or exclude it in `[copy] exclude` or `.nisoignore`.' },
  NISO2003: { title: 'special file refused', explain: 'The app directory contains a device node, FIFO or socket. Packages hold only regular files, directories and symlinks inside the app. Exclude it in `[copy] exclude` or `.nisoignore`.' },
  NISO2004: { title: 'binary not usable', explain: '`niso pack --binary PATH` needs PATH to be an existing regular file.' },
  NISO2005: { title: 'entrypoint missing from package', explain: 'A package without a runtime runs `[binary] entrypoint` from the app itself, but no packaged file has that path. Check the path, pack with `--binary PATH`, or check that `[copy]`/`.nisoignore` do not exclude it.' },
  NISO2006: { title: 'nothing to pack', explain: 'After applying `[copy]` and `.nisoignore`, no files are left to pack.' },
  NISO2007: { title: 'file unreadable', explain: 'A file of the app could not be read while packing (permissions, or it vanished).' },
  NISO2101: { title: 'not a niso package', explain: 'The file is not a zstd-compressed tar archive in the niso package format, or it is damaged. Re-create it with `niso pack` or download it again.' },
  NISO2102: { title: 'unsafe path in package', explain: 'An entry of the package has an absolute path, a `..` component, or a path outside `app/`. Such a package tries to write outside its store directory and is refused. Do not install packages from this source.' },
  NISO2103: { title: 'link refused', explain: 'The package contains a hard link, or a symbolic link that is absolute or points outside the app. niso packages never contain those; the package was not made by niso or was tampered with.' },
  NISO2104: { title: 'special file in package', explain: 'The package contains a device node, FIFO or other special file. niso packages hold only regular files, directories and in-app symlinks.' },
  NISO2105: { title: 'setuid/setgid/sticky bit in package', explain: 'A file in the package has the setuid, setgid or sticky bit. niso packages never carry those bits; the package was tampered with.' },
  NISO2106: { title: 'duplicate entry', explain: 'The same path appears twice in the package, a trick to make what is verified differ from what is installed.' },
  NISO2107: { title: 'content does not match the index', explain: 'A file\'s size or SHA-256 differs from the package index, or the index names files the archive lacks or lacks files the archive has. The package is damaged or was tampered with.' },
  NISO2108: { title: 'truncated package', explain: 'The package ended before all of its content was read. Download or copy it again.' },
  NISO2109: { title: 'package exceeds limits', explain: 'The package unpacks to more bytes or more files than the configured limits allow, which protects the host from decompression bombs. If the package is trusted and really that large, raise the limits: `niso install --max-size 20G --max-files 1000000`, or `max_size`/`max_files` in /etc/niso/config.toml under `[install]`.' },
  NISO2110: { title: 'invalid package index', explain: 'The package\'s index (`niso/index.json`) is missing, is not valid JSON, or does not follow the format.' },
  NISO2111: { title: 'invalid manifest in package', explain: 'The manifest inside the package does not validate. Fix the manifest and pack again.' },
  NISO2112: { title: 'unsupported package format', explain: 'The package was made by a newer niso with a package format this version does not read. Upgrade niso.' },
  NISO2113: { title: 'wrong architecture', explain: 'The package was built for another CPU architecture than this host\'s. Pack it for this architecture (set `[package] arch`, or "any" for architecture-independent apps).' },
  NISO2201: { title: 'package not installed', explain: 'No installed package matches the name (and version) given. `niso list` shows what is installed; `niso install FILE.niso` installs a package.' },
  NISO2202: { title: 'ambiguous package reference', explain: 'Several installed versions or digests match. Name the version (`NAME:VERSION`) or a longer digest prefix.' },
  NISO2203: { title: 'store busy', explain: 'Another niso process holds the store lock for too long. Wait for it to finish; a lock left by a killed process expires by itself after a few seconds.' },
  NISO2204: { title: 'store object damaged', explain: 'A file in the store does not match its recorded hash or has been changed. Remove the package and install it again.' },
  NISO2205: { title: 'invalid limit', explain: 'A size or count limit given on the command line or in /etc/niso/config.toml is not valid.' },
  NISO2901: { title: 'host tool missing', explain: 'niso uses the host\'s own tools for some work (zstd for compression, sync to flush the disk). Install the missing one, e.g. `apt-get install zstd`.' },

  // --- 3xxx: host runtimes (3001-3099) -----------------------------------------------------
  NISO3001: { title: 'runtime not on this host', explain: 'The app names a language runtime (`[runtime] use = "nodejs:20"`) that niso found nowhere on this host: not on PATH, not in /usr/bin, /usr/local/bin or /opt/*/bin (and the runtime\'s usual places, e.g. /usr/lib/jvm for Java), and not in /etc/niso/runtimes.toml. niso runs apps with the host\'s own interpreter, mounted read-only into the sandbox. Install the runtime with the host\'s package manager, or, if it is installed somewhere else, tell niso where: `niso runtime add nodejs:20 /path/to/node`.' },
  NISO3002: { title: 'runtime version mismatch', explain: 'The host has the runtime, but not in the version asked for. A version in a manifest matches by prefix: "20" matches 20.x.y, "3.11" matches 3.11.z, "20.1" matches 20.1.z but not 20.10.0. The message lists every version niso found and where. Install the version the app needs (side by side is fine) and, if it is not on PATH or in a usual place, add it with `niso runtime add NAME:VERSION /path/to/binary`; or change the app\'s manifest to a version the host has. `niso runtime add` reports this error too when the binary given is another version than the one named.' },
  NISO3003: { title: 'shared library missing', explain: 'The runtime\'s binary (or a library it loads) needs a shared library that the host\'s dynamic loader cannot find; `ldd BINARY` shows the same "not found". The runtime would not start on the host either. Install the package that provides the library (on Debian, `apt-file search LIBNAME` names it) or repair the runtime installation. Optional extension modules (a Python module, a JNI library) with missing libraries are left out with a warning instead.' },
  NISO3004: { title: 'runtime not usable', explain: 'The path given for a runtime does not exist, is not an executable file, or did not answer the way that runtime answers (`node --version`, a Python interpreter printing its paths, `java -XshowSettings:properties -version`, ...). Give the path of the interpreter itself, e.g. /opt/node-20/bin/node, not its directory or a wrapper that needs a shell environment. For a configured runtime that has gone away, remove it with `niso runtime remove NAME:VERSION`.' },
  NISO3005: { title: 'runtime already configured', explain: '`niso runtime add` refuses a runtime that /etc/niso/runtimes.toml already has: the same binary, or the same name and full version at another path (niso could not tell which of the two to use). Remove the old entry first with `niso runtime remove NAME:VERSION`.' },
  NISO3006: { title: 'invalid runtime reference', explain: 'Runtimes are named as `NAME:VERSION`, e.g. `nodejs:20`, `python:3.12`, `java:17`, with NAME one of nodejs, python, ruby, java, php, deno, bun and VERSION a major, major.minor or full version. `niso runtime remove` also needs the version to pick exactly one configured runtime; give the full version when several match.' },
  NISO3007: { title: 'runtime not configured', explain: '`niso runtime remove` removes entries of /etc/niso/runtimes.toml only, and none matches. Discovered runtimes (found on PATH and in the usual places) are not recorded anywhere, so there is nothing to remove for them; uninstall them with the host\'s package manager. `niso runtime list` shows both kinds in its SOURCE column.' },
  NISO3008: { title: 'configured runtime changed', explain: 'A runtime in /etc/niso/runtimes.toml reports another version than the one recorded when it was added, usually because it was upgraded in place. niso refuses to guess whether the app still works with it. Record the new version: `niso runtime remove NAME:OLD && niso runtime add NAME:NEW PATH`.' },

  // --- 3xxx: plans and the sandbox (3101-3299) ----------------------------------------------
  NISO3101: { title: 'preset conflict', explain: 'The chosen isolation preset forbids a setting that was asked for, e.g. the strict preset with network mode "host". Use the server preset, or drop the setting.' },
  NISO3102: { title: 'entrypoint not runnable', explain: 'With a `[runtime]`, `[binary] entrypoint` must be one of the runtime\'s commands (e.g. "node" for nodejs, "python3" for python) or a path inside the package ("bin/start"). Tools of the host such as npm are not in the sandbox: start the app with the runtime directly, e.g. entrypoint = "node", args = ["server.js"].' },
  NISO3103: { title: 'runtime not reachable by services', explain: 'Services run as their own uid, so the runtime must be readable by every user. A runtime under a private directory (for example pyenv\'s interpreters under /root) cannot be mounted for them. Install the runtime system-wide (under /usr, /usr/local or /opt) and, if niso does not find it, add it with `niso runtime add NAME:VERSION PATH`.' },
  NISO3104: { title: 'store not reachable by services', explain: 'Apps run as their own uid and read their package from the store below NISO_ROOT. Some directory above the store does not let other users through (its mode lacks o+x), typically because NISO_ROOT is below a private directory such as /root or a mktemp directory. Use a NISO_ROOT whose parents are world-searchable, or chmod o+x the directories above it.' },
  NISO3201: { title: 'capability not available', explain: 'The embedded (bubblewrap) backend runs apps unprivileged and cannot grant capabilities. Remove `[isolation] capabilities`. To serve a port below 1024, listen on a high port and map it.' },
  NISO3202: { title: 'cgroup not usable', explain: 'niso could not create or enter the cgroup that enforces the app\'s resource limits. Check that /sys/fs/cgroup is mounted (cgroup v2, or the v1 memory, pids and cpu hierarchies) and writable by root.' },
  NISO3203: { title: 'uid table damaged', explain: '/var/lib/niso/users.json maps each service to its uid, so that files a service wrote stay its own. It could not be read. Restore it from a backup; deleting it gives services new uids, and their state dirs must then be chowned by hand.' },
  NISO3204: { title: 'no free uid', explain: 'Every uid in niso\'s range (60100-61099) is taken by a service or a host account. Remove services you no longer use.' },

  NISO3205: { title: 'open-files limit not settable', explain: 'niso sets RLIMIT_NOFILE for the app from `[resources] nofile` (the strict preset sets 1024). The host\'s hard limit for niso itself is lower than that, and raising it needs CAP_SYS_RESOURCE. Choose a smaller value, or raise the limit of the process that starts niso.' },

  // --- 9xxx: command line and internal ------------------------------------------------------
  NISO9001: { title: 'usage error', explain: 'The command line is not valid: an unknown command or option, or a missing argument. `niso --help` and `niso COMMAND --help` list what is accepted.' },
  NISO9002: { title: 'unknown error code', explain: '`niso explain` was given a code that niso does not define. Codes look like NISO1002.' },
  NISO9999: { title: 'internal error', explain: 'niso hit a bug. The message includes a stack trace; please report it with the command you ran.' },
};

export function lookupCode(code: string): ErrorCodeInfo | undefined {
  return ERROR_CODES[code.toUpperCase()];
}
