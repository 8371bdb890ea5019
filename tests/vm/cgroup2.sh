#!/usr/bin/env bash
# Runs berth's own runtime on a real, pure cgroup v2 kernel: boots Debian's kernel in a KVM
# virtual machine with a throw-away initramfs (busybox, the runtime conformance test binary, the
# `berth` binary, runc when installed) and runs, inside it:
#   - the runtime conformance suite filtered to berth (`conformance berth`), one thread;
#   - the runc half of the suite (`conformance runc_runtime`), when runc works in the VM;
#   - `berth runtime run` of a bundle written by the `make-bundle` example.
# The VM prints one line `CGROUP2-VM: PASS ...` or `CGROUP2-VM: FAIL ...`; this script exits
# non-zero unless it saw PASS. Not part of CI: run it by hand, as root, on a Debian 12 host with
# /dev/kvm. Idempotent: installs its packages, builds (debug, into $CARGO_TARGET_DIR, default
# <repo>/target), removes its temp dir and leaves no qemu process behind.
#
# Environment: CARGO_TARGET_DIR; VM_ACCEL (kvm or tcg; default: probe); VM_TIMEOUT (seconds,
# default 600); VM_MEM (MiB, default 2048); VM_KEEP_LOG (a path to keep the serial log at);
# VM_FILTER (conformance test filter, default "berth").
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
export CARGO_TARGET_DIR=$target
timeout_s=${VM_TIMEOUT:-600}
mem=${VM_MEM:-2048}
filter=${VM_FILTER:-berth}

if [ "$(id -u)" != 0 ]; then
  echo "cgroup2.sh: run as root (it installs packages and uses /dev/kvm)" >&2
  exit 1
fi
[ -c /dev/kvm ] || { echo "cgroup2.sh: /dev/kvm is missing" >&2; exit 1; }

# 1. Packages: qemu, a Debian kernel, busybox (VM userland and the tests' rootfs), cpio, runc.
need=()
for pkg in qemu-system-x86 linux-image-amd64 busybox-static cpio gzip runc binutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
kernel=$(ls /boot/vmlinuz-*-amd64 | sort -V | tail -1)
kver=${kernel#/boot/vmlinuz-}
for opt in CGROUPS MEMCG CGROUP_PIDS CGROUP_SCHED CFS_BANDWIDTH CPUSETS CGROUP_FREEZER \
  DEVTMPFS SECCOMP_FILTER PID_NS NET_NS UTS_NS IPC_NS BLK_DEV_INITRD RD_GZIP SERIAL_8250_CONSOLE; do
  grep -q "^CONFIG_$opt=y" "/boot/config-$kver" ||
    { echo "cgroup2.sh: $kernel lacks built-in CONFIG_$opt" >&2; exit 1; }
done

# 2. Build the conformance test binary, the examples and the berth binary.
conformance=$(cargo test -p runtime --test conformance --no-run --message-format=json |
  sed -n 's/.*"executable":"\([^"]*conformance-[^"]*\)".*/\1/p' | tail -1)
[ -x "$conformance" ] || { echo "cgroup2.sh: no conformance test binary" >&2; exit 1; }
cargo build -q -p runtime --examples
cargo build -q -p cli
berth=$target/debug/berth
make_bundle=$target/debug/examples/make-bundle

# 3. The initramfs.
work=$(mktemp -d /tmp/berth-vm.XXXXXX)
qpid=
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill "$qpid" 2>/dev/null || true
    sleep 1
    kill -9 "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,opt,newroot}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
  [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
add_bin() { # add_bin SRC DEST: a binary (debug info stripped) and its shared libraries
  strip --strip-debug -o "$root$2" "$1" 2>/dev/null || cp "$1" "$root$2"
  chmod 755 "$root$2"
  ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$root$lib" ] || cp -L --parents "$lib" "$root"
  done
}
add_bin "$conformance" /opt/conformance
add_bin "$berth" /usr/bin/berth
add_bin "$make_bundle" /opt/make-bundle
if command -v runc >/dev/null; then
  add_bin "$(command -v runc)" /usr/sbin/runc
fi
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || cp -L --parents /lib64/ld-linux-x86-64.so.2 "$root"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# Stage 1 (pid 1 on the initramfs): copy itself to a tmpfs and switch_root there, because
# pivot_root(2) refuses a root that is the initramfs (rootfs) mount.
cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t tmpfs -o mode=755 tmpfs /newroot
for d in bin sbin usr lib lib64 etc opt root; do [ -e /$d ] && cp -a /$d /newroot/; done
mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run
cp -a /dev/console /dev/null /newroot/dev/
cp /stage2 /newroot/stage2
exec switch_root /newroot /stage2
EOF

# Stage 2: the checks.
cat >"$root/stage2" <<EOF
#!/bin/sh
filter='$filter'
EOF
cat >>"$root/stage2" <<'EOF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root RUST_BACKTRACE=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname vm
ip link set lo up
echo "vm: kernel $(uname -r); /sys/fs/cgroup fs magic 0x$(stat -f -c %t /sys/fs/cgroup) (cgroup2: 0x63677270)"
echo "vm: cgroup v1 mounts: $(grep -c ' cgroup ' /proc/mounts)"
echo "vm: controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  case $c in memory|pids|cpu|cpuset|io) echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ;; esac
done
echo "vm: subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

fail=0
summary=
count() { # count LOG NAME: adds "NAME p/f" to the summary from a libtest log
  r=$(grep '^test result:' "$1" | tail -1)
  p=$(echo "$r" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
  f=$(echo "$r" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
  summary="$summary $2=${p:-0}passed/${f:-?}failed"
  [ -n "$r" ] && [ "${f:-1}" = 0 ] && [ "${p:-0}" -gt 0 ]
}

echo "vm: ==== conformance $filter ===="
/opt/conformance "$filter" --test-threads 1 >/tmp/berth.log 2>&1; rc=$?
cat /tmp/berth.log
count /tmp/berth.log "$filter" && [ $rc = 0 ] || fail=1

if [ -x /usr/sbin/runc ] && [ "$filter" = berth ]; then
  echo "vm: ==== conformance runc_runtime ===="
  /opt/conformance runc_runtime --test-threads 1 >/tmp/runc.log 2>&1; rc=$?
  cat /tmp/runc.log
  count /tmp/runc.log runc && [ $rc = 0 ] || fail=1
fi

echo "vm: ==== berth runtime run ===="
/opt/make-bundle /tmp/bundle sh -c 'cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.type; echo pids=$(cat /sys/fs/cgroup/pids.max); exit 7'
berth runtime run --bundle /tmp/bundle vmctr >/tmp/run.log 2>&1; rc=$?
cat /tmp/run.log
if [ $rc = 7 ] && grep -qx '0::/' /tmp/run.log && grep -qx 'domain' /tmp/run.log &&
   [ ! -e /sys/fs/cgroup/berth/vmctr ] && [ ! -e /run/berth/runtime/vmctr ]; then
  summary="$summary run=ok"
else
  summary="$summary run=FAILED(rc=$rc)"
  fail=1
fi
# Device cgroup rules (an eBPF program on v2): with Docker's allow list a container may mknod
# any char device (`c *:* m`) but not open one outside the list (here the serial port, c 4:64:
# EPERM), while /dev/null stays usable.
/opt/make-bundle /tmp/devbundle sh -c 'echo x >/dev/null && echo null-ok
mknod /dev/s c 4 64 && echo mknod-ok
if : >/dev/s; then echo opened; fi'
berth runtime run --bundle /tmp/devbundle devctr >/tmp/dev.log 2>&1
cat /tmp/dev.log
if grep -qx null-ok /tmp/dev.log && grep -qx mknod-ok /tmp/dev.log &&
   ! grep -qx opened /tmp/dev.log && grep -q 'Operation not permitted' /tmp/dev.log; then
  summary="$summary device-rules=enforced"
else
  summary="$summary device-rules=NOT-ENFORCED"
  fail=1
fi

left=$(find /sys/fs/cgroup/berth -mindepth 1 -type d 2>/dev/null | wc -l)
[ "$left" = 0 ] || { summary="$summary leftover-cgroups=$left"; fail=1; }

if [ $fail = 0 ]; then
  echo "CGROUP2-VM: PASS kernel=$(uname -r)$summary"
else
  echo "CGROUP2-VM: FAIL kernel=$(uname -r)$summary"
fi
sync
echo o >/proc/sysrq-trigger
sleep 5
poweroff -f
EOF
chmod 755 "$root/init" "$root/stage2"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$work/initrd.gz"
echo "cgroup2.sh: initramfs $(du -h "$work/initrd.gz" | cut -f1), kernel $kver"

# 4. Boot. cgroup_no_v1=all leaves only cgroup2 to mount, as on a systemd-unified host.
# KVM first. Under nested KVM (e.g. in a Firecracker guest) the guest kernel can hang right after
# decompression, so a 20 s probe boot (no initramfs: it panics at once) decides; the fallback is
# qemu's TCG emulation, which works everywhere but is several times slower.
accel=${VM_ACCEL:-}
if [ -z "$accel" ]; then
  timeout --kill-after=5 20 qemu-system-x86_64 -enable-kvm -m 256 -kernel "$kernel" \
    -append "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1" -nographic -no-reboot -nic none \
    </dev/null >"$work/probe.log" 2>&1 || true
  if grep -q 'Linux version' "$work/probe.log"; then accel=kvm; else accel=tcg; fi
fi
case $accel in
  kvm) accel_args=(-enable-kvm) ;;
  *) accel_args=(-accel tcg,thread=multi -cpu max)
     echo "cgroup2.sh: KVM guests do not boot on this host; using TCG (slow)" ;;
esac
log=$work/serial.log
start=$(date +%s)
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" -m "$mem" -smp 2 \
  -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all" \
  -nographic -no-reboot -nic none </dev/null >"$log" 2>&1 &
qpid=$!
wait "$qpid" || true
qpid=
echo "cgroup2.sh: VM ($accel) ran $(($(date +%s) - start))s"
tr -d '\r' <"$log"
if [ -n "${VM_KEEP_LOG:-}" ]; then cp "$log" "$VM_KEEP_LOG"; fi
line=$(tr -d '\r' <"$log" | grep '^CGROUP2-VM: ' | tail -1 || true)
echo "${line:-CGROUP2-VM: FAIL (no summary line: the VM crashed or timed out)}"
case $line in "CGROUP2-VM: PASS"*) exit 0 ;; *) exit 1 ;; esac
