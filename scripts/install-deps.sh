#!/usr/bin/env bash
# Puts the host tools that niso and its tests use on a Debian 12 (bookworm) machine, plus a
# Node.js >= 20 with npm. Idempotent: a second run finds everything present and changes nothing.
#
# Node comes from the npm registry, never from nodejs.org: the registry package
# node-linux-<arch> ships the official node binary, and the npm package is self-contained.
# Debian 12's own nodejs is 18, too old for niso, and is deliberately not installed: a second
# node in /usr/bin would only be a trap for anything that looks there first.
#
# Environment:
#   NISO_NODE_VERSION   node version to install when node is missing or < 20 (default below)
#   NISO_NPM_VERSION    npm version to install alongside it (default below)
#   NISO_NODE_PREFIX    where that node goes (default /opt/niso/node)
#   NPM_CONFIG_REGISTRY npm registry to fetch both from (default https://registry.npmjs.org)
set -euo pipefail

NODE_VERSION="${NISO_NODE_VERSION:-22.23.3}"
NPM_VERSION="${NISO_NPM_VERSION:-11.21.2}"
NODE_PREFIX="${NISO_NODE_PREFIX:-/opt/niso/node}"
REGISTRY="${NPM_CONFIG_REGISTRY:-${npm_config_registry:-https://registry.npmjs.org}}"
REGISTRY="${REGISTRY%/}"
MIN_NODE_MAJOR=20

APT_PACKAGES=(
  bubblewrap nftables iproute2 systemd-container zstd curl ruby php-cli ca-certificates util-linux tar
  acl  # setfacl: a volume's default ACL keeps what one writer makes writable for the others
  xfsprogs btrfs-progs  # mkfs.xfs, mkfs.btrfs and btrfs: volume snapshots (btrfs subvolume snapshots, reflink copies), tested on loop file systems
  attr  # getfattr, setfattr: the snapshot tests check that xattrs are kept
  coreutils git python3 skopeo docker-registry gcc libc6-dev libcap2-bin
  openssl  # the self-signed certificate of the registry tests' token server (python3's crypt makes their htpasswd)
  g++ make  # node-gyp builds fs-ext (flock(2) for niso's locks; optional: without it every lock takes a flock(1) child)
  wrk  # the load client of npm run bench:net
  redis-tools  # redis-cli: the client of the catalog redis e2e test (the package brings its own server)
  postgresql-client  # psql: the client of the catalog postgres e2e test (the package brings its own server)
  mariadb-client  # mariadb: the client of the catalog mariadb e2e test (the package brings its own server)
)

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo bash $0)"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm) and close relatives"
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  [ "${VERSION_CODENAME:-}" = bookworm ] || note "note: tested on Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"
fi
# /usr/local/bin is where node/npm/niso get linked; make sure this run (and its checks) see it.
case ":$PATH:" in *:/usr/local/bin:*) ;; *) PATH="/usr/local/bin:$PATH" ;; esac
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------------
is_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]; }

missing=()
for p in "${APT_PACKAGES[@]}"; do is_installed "$p" || missing+=("$p"); done

# Always update and install (a no-op for what is present): CI must not depend on what an
# earlier run left on the machine, and package lists go stale.
{
  step "apt: installing ${missing[*]:-(all ${#APT_PACKAGES[@]} present; checking)}"
  new_registry=0
  is_installed docker-registry || new_registry=1

  # docker-registry's postinst enables and starts a registry on :5000. niso's tests start
  # their own registries, so keep it from starting: invoke-rc.d and deb-systemd-invoke both
  # obey policy-rc.d, and 101 means "action not allowed". An existing policy-rc.d is restored.
  policy=/usr/sbin/policy-rc.d
  policy_backup=""
  if [ -e "$policy" ]; then
    policy_backup="$(mktemp /usr/sbin/policy-rc.d.niso-backup.XXXXXX)"
    cp -p "$policy" "$policy_backup"
  fi
  restore_policy() {
    if [ -n "$policy_backup" ]; then mv -f "$policy_backup" "$policy"; else rm -f "$policy"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# temporary, written by niso scripts/install-deps.sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"

  step "apt: apt-get update"
  apt-get -o DPkg::Lock::Timeout=600 -q update >/tmp/niso-apt-update.log 2>&1 \
    || { cat /tmp/niso-apt-update.log >&2; die "apt-get update failed"; }
  step "apt: apt-get install (${#APT_PACKAGES[@]} packages, ${#missing[@]} missing; log: /tmp/niso-apt-install.log)"
  apt-get -o DPkg::Lock::Timeout=600 -q install -y --no-install-recommends "${APT_PACKAGES[@]}" \
    >/tmp/niso-apt-install.log 2>&1 \
    || { tail -n 40 /tmp/niso-apt-install.log >&2; die "apt-get install failed (full log: /tmp/niso-apt-install.log)"; }

  restore_policy
  trap - EXIT

  if [ "$new_registry" -eq 1 ]; then
    # Not started, but enabled for the next boot; a registry we did not ask for should not
    # appear after a reboot either. Only done when this run installed it, so an admin's own
    # choice for an already installed docker-registry is left alone.
    step "apt: disabling the docker-registry service that the package enabled"
    # systemctl disable works without a running systemd (it edits symlinks, and the SysV
    # links through systemd-sysv-install); deb-systemd-helper refuses outside dpkg.
    if command -v systemctl >/dev/null; then
      systemctl disable docker-registry.service >/dev/null 2>&1 || true
      [ -d /run/systemd/system ] && { systemctl stop docker-registry.service >/dev/null 2>&1 || true; }
    elif command -v update-rc.d >/dev/null; then
      update-rc.d docker-registry disable >/dev/null 2>&1 || true
    fi
  fi

  for p in "${APT_PACKAGES[@]}"; do is_installed "$p" || die "package $p is still not installed after apt-get install"; done
}

# ---------------------------------------------------------------------------------------------
# 2. Node.js >= 20 with npm
# ---------------------------------------------------------------------------------------------
node_major() {
  # Prints the major version of the node on PATH, or nothing.
  command -v node >/dev/null 2>&1 || return 0
  node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || true
}
npm_works() { command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; }

# Fetches one package version's tarball from the registry into $3, checking its integrity.
fetch_registry_tarball() {
  local name="$1" version="$2" out="$3" meta tarball integrity
  meta="$(curl -fsSL --retry 3 --retry-delay 2 "$REGISTRY/$name/$version")" \
    || die "cannot read $name@$version from $REGISTRY (is the version published? try: npm view $name versions)"
  read -r tarball integrity < <(python3 -c '
import json, sys
d = json.load(sys.stdin)["dist"]
print(d["tarball"], d.get("integrity", ""))' <<<"$meta") || die "unexpected registry answer for $name@$version"
  curl -fsSL --retry 3 --retry-delay 2 -o "$out" "$tarball" || die "download of $tarball failed"
  [ -n "$integrity" ] || die "$name@$version has no integrity hash in the registry"
  python3 - "$out" "$integrity" <<'PY' || die "integrity check failed for $name@$version"
import base64, hashlib, sys
path, sri = sys.argv[1], sys.argv[2]
for entry in sri.split():
    algo, _, b64 = entry.partition("-")
    if algo in ("sha512", "sha384", "sha256"):
        h = hashlib.new(algo)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        sys.exit(0 if base64.b64encode(h.digest()).decode() == b64 else 1)
sys.exit(1)
PY
}

install_node() {
  local arch pkg tmp stage
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no node binary package for architecture $(uname -m) (only x86_64 and aarch64 are supported)" ;;
  esac
  pkg="node-linux-$arch"
  tmp="$(mktemp -d /tmp/niso-node.XXXXXX)"
  stage="$NODE_PREFIX.new.$$"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp' '$stage'" EXIT

  step "node: downloading $pkg@$NODE_VERSION from $REGISTRY"
  fetch_registry_tarball "$pkg" "$NODE_VERSION" "$tmp/node.tgz"
  step "node: downloading npm@$NPM_VERSION from $REGISTRY"
  fetch_registry_tarball npm "$NPM_VERSION" "$tmp/npm.tgz"

  step "node: unpacking into $NODE_PREFIX"
  mkdir -p "$(dirname "$NODE_PREFIX")"
  rm -rf "$stage"
  mkdir -p "$stage/lib/node_modules/npm"
  tar -xzf "$tmp/node.tgz" -C "$stage" --strip-components=1 --no-same-owner
  tar -xzf "$tmp/npm.tgz" -C "$stage/lib/node_modules/npm" --strip-components=1 --no-same-owner
  [ -x "$stage/bin/node" ] || die "$pkg@$NODE_VERSION has no bin/node"
  # The same layout as the official tarball, so npm finds its prefix (and -g installs) here.
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$stage/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$stage/bin/npx"
  "$stage/bin/node" --version >/dev/null || die "the downloaded node does not run on this machine"

  if [ -e "$NODE_PREFIX" ]; then rm -rf "$NODE_PREFIX.old"; mv "$NODE_PREFIX" "$NODE_PREFIX.old"; fi
  mv "$stage" "$NODE_PREFIX"
  rm -rf "$NODE_PREFIX.old" "$tmp"
  trap - EXIT

  for b in node npm npx; do ln -sfn "$NODE_PREFIX/bin/$b" "/usr/local/bin/$b"; done
  hash -r
  step "node: linked node, npm, npx into /usr/local/bin"
}

have_major="$(node_major)"
if [ -n "$have_major" ] && [ "$have_major" -ge "$MIN_NODE_MAJOR" ] && npm_works; then
  step "node: $(command -v node) $(node --version) with npm $(npm --version 2>/dev/null) already present"
else
  if [ -z "$have_major" ]; then
    step "node: not found, installing $NODE_VERSION"
  elif [ "$have_major" -lt "$MIN_NODE_MAJOR" ]; then
    step "node: $(command -v node) is $(node --version 2>/dev/null), older than $MIN_NODE_MAJOR; installing $NODE_VERSION"
  else
    step "node: $(command -v node) has no working npm; installing node $NODE_VERSION with npm"
  fi
  install_node
fi

# ---------------------------------------------------------------------------------------------
# 3. Check
# ---------------------------------------------------------------------------------------------
hash -r
final_major="$(node_major)"
if [ -z "$final_major" ] || [ "$final_major" -lt "$MIN_NODE_MAJOR" ]; then
  die "node on PATH is $(command -v node || echo missing) $(node --version 2>/dev/null || true); niso needs >= $MIN_NODE_MAJOR. Is another node earlier in PATH than /usr/local/bin?"
fi
npm_works || die "npm does not run: $(npm --version 2>&1 || true)"
step "ok: node $(node --version) ($(readlink -f "$(command -v node)")), npm $(npm --version 2>/dev/null)"
