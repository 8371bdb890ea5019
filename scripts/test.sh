#!/usr/bin/env bash
# Runs berth's whole test suite on a fresh Debian 12 machine, as root: installs the system
# packages the tests use, then builds (debug) and runs every test, privileged ones included.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in busybox-static runc skopeo gzip iproute2 nftables docker-registry docker.io docker-compose; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# docker.io gives the interop tests a real Docker Engine (dockerd, started by the tests with their
# own data root) and, where the machine has none, the docker CLI. It must not run as a service.
systemctl stop docker.service docker.socket containerd.service docker-registry.service 2>/dev/null || true
if [ "$(id -u)" != 0 ]; then
  echo "the test suite runs real containers: run it as root" >&2
  exit 1
fi
status=0
cargo test --workspace --all-targets --no-fail-fast 2>&1 || status=$?
# Containers remove their own /berth/<id> cgroups; the shared, now empty, /berth parents are left
# like Docker leaves /docker. Remove them once nothing can be racing to create a child.
for d in /sys/fs/cgroup/*/berth /sys/fs/cgroup/unified/berth; do
  [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
done
exit "$status"
