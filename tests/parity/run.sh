#!/bin/bash
# Parity check (by hand, not in CI): runs the same docker CLI command sequence against
# Debian's dockerd 20.10 and a berth daemon (debug build), masks ids, times, sizes and
# addresses, and prints the cases whose exit code, stdout or stderr differ.
#
#   tests/parity/run.sh [CASES_FILE]      (root; default cases: tests/parity/cases.sh)
#
# Both daemons run privately under $W (default /tmp/par); dockerd without a default bridge,
# berth with its own (bpar0, 10.239.77.0/24, table berth_par; BERTH_NET overrides) because
# `--bridge none` turns berth's networking off. Containers use `--network none` or user
# networks made on each side. Everything is stopped and removed
# at the end. Output: $W/out/{docker,berth}/NNN and a diff on stdout.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CASES=${1:-$HERE/cases.sh}
W=${W:-/tmp/par}
BERTH=${BERTH:-$REPO/target/debug/berth}

cleanup() {
    for s in d b; do
        [ -S "$W/$s.sock" ] && DOCKER_HOST=unix://$W/$s.sock docker network prune -f >/dev/null 2>&1
    done
    for s in d b; do
        [ -S "$W/$s.sock" ] && DOCKER_HOST=unix://$W/$s.sock docker ps -aq 2>/dev/null |
            xargs -r env DOCKER_HOST=unix://$W/$s.sock docker rm -f >/dev/null 2>&1
    done
    [ -f "$W/d.pid" ] && kill "$(cat "$W/d.pid")" 2>/dev/null
    [ -n "${BPID:-}" ] && kill "$BPID" 2>/dev/null
    sleep 2
    grep -h "$W" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^bpar' |
        xargs -r -n1 ip link del 2>/dev/null
    nft delete table ip berth_par 2>/dev/null
    rm -rf "$W"
}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$BERTH" ] || { echo "build berth first (cargo build)" >&2; exit 1; }
[ -e "$W" ] && cleanup
mkdir -p "$W/out/docker" "$W/out/berth"
[ -n "${KEEP:-}" ] || trap cleanup EXIT
trap "exit 130" INT TERM

dockerd --data-root "$W/droot" --exec-root "$W/dexec" --pidfile "$W/d.pid" \
    -H "unix://$W/d.sock" --bridge=none --iptables=false --ip-masq=false \
    >"$W/dockerd.log" 2>&1 &
"$BERTH" daemon -H "unix://$W/b.sock" --root "$W/broot" --exec-root "$W/bexec" \
    ${BERTH_NET:---bridge bpar0 --bip 10.239.77.0/24 --nft-table berth_par} >"$W/berth.log" 2>&1 &
BPID=$!
for s in d b; do
    for _ in $(seq 100); do
        DOCKER_HOST=unix://$W/$s.sock docker version >/dev/null 2>&1 && break
        sleep 0.3
    done
done

# The same busybox base on both sides (as crates/testkit builds it).
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/root" "$R/home" \
    "$R/var" "$R/usr/bin" "$R/usr/sbin" "$R/sbin"
chmod 1777 "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
tar -C "$R" -cf "$W/bb.tar" .
for s in d b; do
    DOCKER_HOST=unix://$W/$s.sock docker import "$W/bb.tar" bb:latest >/dev/null
done

mask() {
    sed -E \
        -e 's/sha256:[0-9a-f]{64}/sha256:<DIGEST>/g' \
        -e 's/\b[0-9a-f]{64}\b/<ID>/g' \
        -e 's/\b[0-9a-f]{12}\b/<SHORTID>/g' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)/<TIME>/g' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]+( [+-][0-9]{4} [A-Z]+)?/<TIME>/g' \
        -e 's/(About a|[0-9]+|Less than a) (second|minute|hour)s? ago/<AGO>/g' \
        -e 's/(Up|Exited \([0-9]+\)) (About a|[0-9]+|Less than a) (second|minute|hour)s?/\1 <DUR>/g' \
        -e 's/\b[0-9]+(\.[0-9]+)?([kMG]i?B|B)\b/<SIZE>/g' \
        -e 's/\b([0-9]{1,3}\.){3}[0-9]{1,3}(\/[0-9]+)?\b/<IP>/g' \
        -e "s#$W/[db]#<W>#g" \
        -e 's/ +$//'
}

# Each case: one line of shell (blank lines and #-comments skipped). `docker` talks to the
# side under test. A line starting with `@` runs on both sides but is not compared (setup).
n=0
while IFS= read -r line; do
    case "$line" in '' | '#'*) continue ;; esac
    n=$((n + 1))
    id=$(printf '%03d' "$n")
    quiet=0
    case "$line" in @*) quiet=1; line=${line#@} ;; esac
    for side in docker berth; do
        s=d; [ $side = berth ] && s=b
        o=$W/out/$side/$id
        (
            # P: a per-side octet for explicit subnets (both daemons share the host's routes).
            P=231; [ $side = berth ] && P=232
            export DOCKER_HOST=unix://$W/$s.sock DOCKER_CLI_HINTS=false P
            cd "$W" && timeout 60 bash -c "$line" >"$o.out" 2>"$o.err" </dev/null
            echo "exit=$?" >"$o.rc"
        )
        [ $quiet = 1 ] && continue
        { echo "\$ $line"; cat "$o.rc"; echo "--- stdout"; mask <"$o.out"; echo "--- stderr"; mask <"$o.err"; } >"$o"
    done
    [ $quiet = 1 ] && continue
    if ! cmp -s "$W/out/docker/$id" "$W/out/berth/$id"; then
        echo "=== case $id differs: $line"
        diff "$W/out/docker/$id" "$W/out/berth/$id" | sed -n '2,60p'
    fi
done <"$CASES"
echo "$n cases run"
