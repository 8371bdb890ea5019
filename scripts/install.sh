#!/usr/bin/env bash
# Installs berth on a fresh Debian 12 machine (as root), starts the daemon and runs a short demo:
# import a busybox image built from the host's busybox-static, run a container, show ps and logs,
# remove it.
set -euo pipefail
cd "$(dirname "$0")/.."

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static runc gzip iproute2 nftables >/dev/null
cargo build --release
install -m 0755 target/release/berth /usr/local/bin/berth

if ! berth version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup berth daemon >/var/log/berth.log 2>&1 &
  for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
fi

# A busybox root filesystem as a tarball: /bin/busybox, its applets, root and nobody.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/root"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

set -x
berth import "$work/busybox.tar" busybox:latest
berth run --rm busybox echo "hello from berth"
berth run -d --name demo busybox sh -c 'echo demo is up; sleep 60'
sleep 0.5
berth ps
berth logs demo
berth rm -f demo
berth images
