#!/usr/bin/env bash
# Runs what a container engine would, as far as a machine without one can (root and debootstrap
# needed; not part of the test suite: the first run downloads a Debian base, ~2 min).
#  1. A debootstrap'd Debian bookworm minbase stands in for node:24-slim (which is Debian
#     bookworm-slim plus Node in /usr/local): Node 24 goes to /usr/local/bin/node, and npm,
#     npx, corepack and yarn are stubbed where the Node images keep them.
#  2. The Dockerfile's rootfs RUN step runs in a chroot of it, as root, verbatim.
#  3. /app is filled from the Dockerfile's COPY lines (test/cluster/support/write-image-tree.ts).
#  4. The root filesystem is bind-mounted read-only with a tmpfs /tmp, and entry points run in it
#     as UID 107 under tini, as the image's ENTRYPOINT does; tini must forward SIGTERM.
# What stays different from a real build: the base is not the node:24-slim image itself, there
# is no PID/mount namespace isolation, and the layers are not flattened (irrelevant for a chroot).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$CDI_ROOT"
[ "$(id -u)" -eq 0 ] || { echo "verify-rootfs: needs root (chroot, mounts)" >&2; exit 64; }
command -v debootstrap >/dev/null || { echo "verify-rootfs: needs debootstrap (apt-get install debootstrap)" >&2; exit 64; }

base=.cache/rootfs-base/bookworm
if [ ! -x "$base/bin/sh" ]; then
  mkdir -p .cache/rootfs-base
  debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >&2
fi

work=$(mktemp -d /tmp/cdi-rootfs-XXXXXX)
root="$work/rootfs"
ro="$work/ro"
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

step "base: Debian $(cat "$base/etc/debian_version") minbase + Node $(node --version)"
cp -a "$base" "$root"
install -m 0755 "$(command -v node)" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules/npm" "$root/usr/local/lib/node_modules/corepack" "$root/opt/yarn-v1.22.22"
for b in npm npx corepack yarn yarnpkg; do printf '#!/bin/sh\n' > "$root/usr/local/bin/$b"; chmod +x "$root/usr/local/bin/$b"; done
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc dev sys; do mount --rbind "/$m" "$root/$m"; mounts+=("$root/$m"); done

step "rootfs RUN step, verbatim from docker/Dockerfile"
mkdir -p "$work/app"
runs=$(node test/cluster/support/write-image-tree.ts "$work/app")
rootfs_run=$(printf '%s\n' "$runs" | awk -F'\t' '$1 == "rootfs" { print $2 }')
[ -n "$rootfs_run" ] || fail "no RUN step found in the rootfs stage"
chroot "$root" /bin/sh -ec "$rootfs_run" > "$work/run.log" 2>&1 || { tail -20 "$work/run.log"; fail "the RUN step failed"; }
echo "ok"
for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}"; done
mounts=()

step "final stage contents"
for f in usr/bin/apt usr/bin/apt-get usr/bin/dpkg usr/bin/dpkg-deb var/lib/dpkg usr/local/bin/npm usr/local/bin/npx usr/local/bin/corepack usr/local/bin/yarn usr/local/lib/node_modules/npm; do
  [ ! -e "$root/$f" ] || fail "/$f is still in the image"
done
for f in usr/bin/tini usr/bin/xz usr/local/bin/node; do [ -x "$root/$f" ] || fail "/$f is missing"; done
grep -q '^cdi:x:107:107:' "$root/etc/passwd" || fail "no user 107"
for c in gcc cc g++ make python3; do [ ! -e "$root/usr/bin/$c" ] || fail "compiler/tool $c present"; done
echo "no apt, dpkg, npm, npx, corepack, yarn or compilers; tini, xz, node present; user cdi is 107:107"

step "read-only root filesystem with a tmpfs /tmp, /app from the Dockerfile's COPY lines"
mkdir -p "$root/app" "$ro"
cp -a "$work/app/." "$root/app/"
mount --bind "$root" "$ro"; mounts+=("$ro")
mount -o remount,bind,ro "$ro"
mount -t tmpfs -o mode=1777 tmpfs "$ro/tmp"; mounts+=("$ro/tmp")
mount --rbind /dev "$ro/dev"; mounts+=("$ro/dev")
mount -t proc proc "$ro/proc"; mounts+=("$ro/proc")
in_image() { chroot --userspec=107:107 "$ro" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_ENV=production HOME=/tmp "$@"; }
entry() { in_image /bin/sh -c 'cd /app && exec /usr/bin/tini -s -- node "$@"' entry "$@"; }
if in_image /bin/sh -c 'echo x > /app/probe' 2>/dev/null; then fail "/app is writable"; fi
echo "ok: / is read-only for UID 107"

step "control-plane entry points start (--help)"
for e in src/cluster/controller/main.ts src/cluster/token-api/main.ts uploadproxy/main.ts; do
  entry "$e" --help | head -1
done

step "importer: xz-compressed HTTP import through the image's xz"
head -c 3000000 /dev/urandom > "$work/disk.raw"
xz -T1 -c "$work/disk.raw" > "$work/disk.raw.xz"
(cd "$work" && exec python3 -m http.server 18931 --bind 127.0.0.1 >/dev/null 2>&1) &
http_pid=$!
sleep 1
in_image /bin/sh -c 'cd /app && exec /usr/bin/tini -s -- env IMPORTER_SOURCE=http IMPORTER_ENDPOINT=http://127.0.0.1:18931/disk.raw.xz IMPORTER_IMAGE_SIZE=4Mi CDI_TARGET_PATH=/tmp/disk.img CDI_TERMINATION_LOG=/tmp/termination-log CDI_LISTEN_PORT=0 node --max-semi-space-size=2 --initial-old-space-size=64 dist/workers/importer.mjs' > "$work/importer.log" 2>&1 || { tail -5 "$work/importer.log"; kill $http_pid; fail "import failed"; }
kill $http_pid
want=$(sha256sum < "$work/disk.raw" | cut -d' ' -f1)
got=$(head -c 3000000 "$ro/tmp/disk.img" | sha256sum | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "imported bytes differ"
grep -q 'Import Complete' "$ro/tmp/termination-log" || fail "no termination message"
echo "ok: sha256 $got, $(cat "$ro/tmp/termination-log")"

step "upload server: HEALTHCHECK passes; tini forwards SIGTERM"
# started directly (not through the in_image function, which would fork a subshell) so that
# $! is the process that execs into tini
chroot --userspec=107:107 "$ro" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp /bin/sh -c \
  'cd /app && exec /usr/bin/tini -s -- env UPLOAD_IMAGE_SIZE=1Mi CDI_TARGET_PATH=/tmp/upload.img CDI_TERMINATION_LOG=/tmp/upload-log CDI_LISTEN_PORT=18932 node --max-semi-space-size=2 --initial-old-space-size=64 dist/workers/uploadServer.mjs' \
  > "$work/upload.log" 2>&1 &
tini_pid=$!
trap 'kill -KILL $tini_pid 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do entry src/cluster/healthcheck.ts http://127.0.0.1:18932/healthz && break; sleep 0.2; done
entry src/cluster/healthcheck.ts http://127.0.0.1:18932/healthz || fail "upload server health check failed"
echo "ok: healthy"
kill -TERM $tini_pid
status=0
wait $tini_pid || status=$?
grep -q '"signal":"SIGTERM"' "$work/upload.log" || { tail -5 "$work/upload.log"; fail "node did not see SIGTERM"; }
echo "ok: node logged SIGTERM and exited with $status through tini"
step "all checks passed"
