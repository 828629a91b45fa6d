#!/usr/bin/env bash
# A first look at niso: make an app, pack it into a .niso package, install it, look at it, run it,
# then run it as a service.
# Works in a fresh temporary directory. niso's state goes to NISO_ROOT: the one you set, or
# else a temporary one, so that the demo never touches /var/lib/niso.
set -euo pipefail

# The niso of this clone: the one on PATH only if it is this one (install.sh links it), as the demo shows `niso ...`.
own="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/bin/niso"
if [ "$(readlink -f "$(command -v niso 2>/dev/null || true)" 2>/dev/null)" = "$(readlink -f "$own")" ]; then
  niso=(niso)
else
  niso=(node "$own")
fi

work="$(mktemp -d /tmp/niso-demo.XXXXXX)"
# mktemp makes it private; the app runs as its own uid and must reach the store inside.
chmod 755 "$work"
if [ -n "${NISO_ROOT:-}" ]; then
  root_note="NISO_ROOT=$NISO_ROOT (yours)"
else
  export NISO_ROOT="$work/root"
  mkdir -p "$NISO_ROOT"
  root_note="NISO_ROOT=$NISO_ROOT (temporary, so /var/lib/niso is left alone; set NISO_ROOT to choose)"
fi
app="$work/hello"
mkdir -p "$app"

# Prints a command the way a person would type it (leading NAME=value words are environment,
# as in a shell), then runs it; stops the demo if it fails.
run() {
  local shown="" a rc
  for a in "$@"; do
    case "$a" in
      *[!A-Za-z0-9_./:=@%+,-]* | '') shown+=" '${a//\'/\'\\\'\'}'" ;;
      *) shown+=" $a" ;;
    esac
  done
  printf '\n$%s\n' "$shown"
  case "$1" in
    [A-Za-z_]*=*) env "$@" || { rc=$?; printf 'demo: this step failed (exit %s)\n' "$rc" >&2; exit "$rc"; } ;;
    *) "$@" || { rc=$?; printf 'demo: this step failed (exit %s)\n' "$rc" >&2; exit "$rc"; } ;;
  esac
}

printf 'niso demo in %s\n%s\n' "$app" "$root_note"
cd "$app"

run "${niso[@]}" init --template node

name="$(sed -n 's/^[[:space:]]*name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' manifest.toml | head -n 1)"
[ -n "$name" ] || name="$(basename "$app")"

run "${niso[@]}" pack
shopt -s nullglob
pkgs=(./*.niso)
shopt -u nullglob
[ "${#pkgs[@]}" -eq 1 ] || { printf 'demo: expected one .niso file after niso pack, found %s\n' "${#pkgs[@]}" >&2; exit 1; }

run NISO_ROOT="$NISO_ROOT" "${niso[@]}" install "${pkgs[0]}"
run "${niso[@]}" inspect "$name"
run "${niso[@]}" list
# The app serves until stopped: run it for three seconds in its sandbox on a private network,
# with a host port mapped to it in the kernel, ask it for /health from the host, then stop it as
# Ctrl-C would (niso passes the signal to the app, which shuts down cleanly).
port=$((20000 + $$ % 10000))
( sleep 1.5; printf '\n$ curl http://127.0.0.1:%s/health\n' "$port"; curl -s -m 2 "http://127.0.0.1:$port/health"; echo ) &
run NISO_ROOT="$NISO_ROOT" timeout --preserve-status --signal=TERM 3 "${niso[@]}" run -p "127.0.0.1:$port:3000" "$name"
wait
# The same app as a service that keeps running (like docker run -d): --wait returns once its
# health check passes; then its status, a request, its logs, and a clean stop.
port2=$((port + 1))
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" activate "$name" -p "127.0.0.1:$port2:3000" --wait
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" status
run curl -s -m 2 "http://127.0.0.1:$port2/health"
echo
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" logs "$name"
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" deactivate "$name"
# Its /state (a mounted image) and uid go with it, so that rm -rf of the demo's directory leaves nothing on the host.
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" remove "$name" --volumes
# The run and the service removed their namespaces and port rules; the network stays until removed.
run NISO_ROOT="$NISO_ROOT" "${niso[@]}" net remove default
# niso makes the directory of state images a shared bind mount of itself (src/host/bounded-dir.ts); in the demo's own
# temporary root it is released here, so that rm -rf alone removes the demo's directory.
if [ "$NISO_ROOT" = "$work/root" ]; then
  findmnt -rn -o TARGET | awk -v w="$work/" 'index($0, w) == 1' | sort -r | while read -r m; do umount -- "$m"; done
fi

printf '\ndemo done. app: %s  package: %s\nstate: %s (remove with: rm -rf %s)\n' \
  "$app" "$app/${pkgs[0]#./}" "$NISO_ROOT" "$work"
