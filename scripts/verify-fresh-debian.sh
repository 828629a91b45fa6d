#!/usr/bin/env bash
# Proves install.sh on a machine that has nothing: debootstraps a minimal Debian 12 root once
# (cached in /var/tmp/fresh-deb12), copies it, copies this working tree into the copy (without
# node_modules and dist) and runs `install.sh` there as root, in systemd-nspawn (or chroot).
#
# usage: scripts/verify-fresh-debian.sh [--chroot] [--keep] [-- INSTALL_ARGS...]
#   default INSTALL_ARGS: --no-demo.  --chroot: use chroot instead of systemd-nspawn.
#   --keep: leave the copy in /var/tmp/fresh-deb12-run for a look afterwards.
# Run as root on Debian 12; it needs debootstrap (installed here if missing).
set -euo pipefail

BASE=/var/tmp/fresh-deb12
RUN=/var/tmp/fresh-deb12-run
mode=nspawn
keep=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --chroot) mode=chroot ;;
    --keep) keep=1 ;;
    --) shift; args=("$@"); break ;;
    *) printf 'usage: %s [--chroot] [--keep] [-- INSTALL_ARGS...]\n' "$0" >&2; exit 2 ;;
  esac
  shift
done
[ "${#args[@]}" -gt 0 ] || args=(--no-demo)

step() { printf '==> %s\n' "$*"; }
die() { printf 'verify-fresh-debian: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ "$mode" = chroot ] || command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ "${#need[@]}" -gt 0 ]; then
  step "host: installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 -q update >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 -q install -y --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -e "$BASE/.niso-debootstrap-done" ]; then
  # The host's own Debian mirror (deb822 URIs: or one-line deb), not its security mirror.
  mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' | grep -v security | head -n 1 || true)"
  [ -n "$mirror" ] || mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' | head -n 1 || true)"
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  step "debootstrap --variant=minbase bookworm $BASE $mirror"
  rm -rf "$BASE"
  debootstrap --variant=minbase bookworm "$BASE" "$mirror" >/var/tmp/fresh-deb12-debootstrap.log 2>&1 \
    || { tail -n 20 /var/tmp/fresh-deb12-debootstrap.log >&2; die "debootstrap failed"; }
  touch "$BASE/.niso-debootstrap-done"
else
  step "using cached minimal root $BASE"
fi

step "fresh copy $RUN"
rm -rf "$RUN"
cp -a "$BASE" "$RUN"
for t in node npm curl python3 git bwrap; do
  if [ -e "$RUN/usr/bin/$t" ] || [ -e "$RUN/usr/local/bin/$t" ]; then die "the base root unexpectedly has $t"; fi
done

step "copying the working tree of $repo to $RUN/root/niso (without node_modules, dist, .scratch)"
mkdir -p "$RUN/root/niso"
tar -C "$repo" --exclude=./node_modules --exclude=./dist --exclude=./bench/.cache --exclude=./.scratch -cf - . | tar -C "$RUN/root/niso" -xf -

# This workplace's egress goes through a TLS-intercepting proxy whose CA the host trusts; a
# fresh machine here has the same CA, so the copy gets it too (ca-certificates picks it up).
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$RUN/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$RUN/usr/local/share/ca-certificates/"
fi
env_args=()
[ -z "${NODE_EXTRA_CA_CERTS:-}" ] || env_args+=("NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")

start=$SECONDS
status=0
step "running: bash /root/niso/install.sh ${args[*]}  ($mode)"
if [ "$mode" = nspawn ]; then
  nspawn_env=()
  for e in "${env_args[@]}"; do nspawn_env+=("--setenv=$e"); done
  # --register=no --keep-unit: the host's PID 1 need not be systemd (no bus, no machined).
  systemd-nspawn -q -D "$RUN" --register=no --keep-unit --resolv-conf=copy-host --chdir=/root/niso \
    "${nspawn_env[@]}" /bin/bash /root/niso/install.sh "${args[@]}" || status=$?
else
  cp -L /etc/resolv.conf "$RUN/etc/resolv.conf"
  mount -t proc proc "$RUN/proc"
  mount --rbind /sys "$RUN/sys"
  mount --rbind /dev "$RUN/dev"
  trap 'umount -R "$RUN/dev" "$RUN/sys" 2>/dev/null || umount -lR "$RUN/dev" "$RUN/sys" 2>/dev/null || true; umount "$RUN/proc" 2>/dev/null || true' EXIT
  chroot "$RUN" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "${env_args[@]}" /bin/bash -c 'cd /root/niso && exec bash install.sh "$@"' install.sh "${args[@]}" || status=$?
fi
step "install.sh exited $status after $((SECONDS - start))s"
[ "$keep" -eq 1 ] || [ "$status" -ne 0 ] || rm -rf "$RUN"
exit "$status"
