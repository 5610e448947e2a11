#!/usr/bin/env bash
# Installs what the product (with --vm, also QEMU for cdi serve's local VM runtime; with
# --test, what the test suite needs) needs. Idempotent and quiet when everything is present.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$CDI_ROOT"
runtime_pkgs=(xz-utils openssl util-linux)
test_pkgs=(qemu-utils nginx docker-registry skopeo xz-utils zstd pigz openssl curl apache2-utils util-linux python3-kubernetes qemu-system-x86 ovmf linux-image-cloud-amd64 busybox-static syslinux syslinux-common syslinux-efi mtools dosfstools e2fsprogs fdisk genisoimage)
vm_pkgs=(qemu-system-x86 ovmf)
want=("${runtime_pkgs[@]}")
[ "${1:-}" = "--test" ] && want=("${test_pkgs[@]}")
[ "${1:-}" = "--vm" ] && want=("${runtime_pkgs[@]}" "${vm_pkgs[@]}")
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cdi: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
stamp=node_modules/.cdi-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
# The worker bundles the node agent runs (docs/adr/0032): rebuilt when missing or out of date.
# Without them the agent runs the workers' sources (slower to start), so a failed build does not stop the install.
node scripts/build-workers.ts --if-stale || echo "cdi: the worker bundles could not be built; workers will run from source" >&2
