#!/usr/bin/env bash
# Sets niso up from this checkout on a Debian 12 machine, as root:
#   host tools + Node.js >= 20 (scripts/install-deps.sh), npm ci, npm run build,
#   /usr/local/bin/niso -> bin/niso, then a short demo (scripts/demo.sh) unless --no-demo.
# Safe to run again: every step is idempotent.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: install.sh [--no-demo] [--help]

  --no-demo   stop after installing; do not run scripts/demo.sh
              (the demo keeps its state in a temporary NISO_ROOT, never in /var/lib/niso)
EOF
}

demo=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) demo=0 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'install.sh: unknown option %s\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
[ "$(id -u)" -eq 0 ] || die "run as root (try: sudo bash $repo/install.sh)"
case ":$PATH:" in *:/usr/local/bin:*) ;; *) export PATH="/usr/local/bin:$PATH" ;; esac

start=$SECONDS
step "host dependencies (scripts/install-deps.sh)"
bash "$repo/scripts/install-deps.sh"
hash -r

cd "$repo"
step "npm ci (log: /tmp/niso-npm-ci.log)"
npm ci --no-audit --no-fund >/tmp/niso-npm-ci.log 2>&1 || { tail -n 40 /tmp/niso-npm-ci.log >&2; die "npm ci failed"; }
step "npm run build"
npm run build --silent || die "npm run build failed"

step "linking /usr/local/bin/niso -> $repo/bin/niso"
chmod +x "$repo/bin/niso"
ln -sfn "$repo/bin/niso" /usr/local/bin/niso
hash -r
version="$(niso --version 2>&1)" || die "niso does not run: $version"
step "installed niso $version in $((SECONDS - start))s"

if [ "$demo" -eq 1 ]; then
  step "demo (scripts/demo.sh; skip it with --no-demo)"
  bash "$repo/scripts/demo.sh"
fi
