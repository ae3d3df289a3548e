#!/usr/bin/env bash
# apply.sh — vdcfs apply benchmark: create and start N VMs three ways, on
# a fresh libvirtd each, and print the times with ratios.
#
#   sudo bench/apply.sh            # N=1000
#   sudo N=50 bench/apply.sh       # a quick run
#
# The three ways, each on its own freshly started libvirtd (an empty host):
#   limit  bench/apply_limit.c: one libvirt connection, virDomainDefineXML +
#          virDomainCreate per VM, as fast as one client goes;
#   peer   a shell loop of `virsh define FILE && virsh start NAME` per VM
#          (the XML files are written before the clock starts);
#   vdcfs  mkdir vms/NAME + write vms/NAME/spec.json through the mount, for
#          every VM (one python3 process, WRITERS threads, spec texts read before the clock
#          starts), timed until every vms/NAME/status.json has the condition
#          InSync True.  state_dir is on a real disk (under STATE_PARENT).
#
# Environment (all optional):
#   N=1000               VMs per way
#   WRITERS=1            vdcfs: how many threads write the specs, each its
#                        share of the VMs (a GitOps sync is one writer; a
#                        parallel one, e.g. xargs -P, lets vdcfs group commit)
#   PORT=...             libvirtd TCP port (default: a free one per phase)
#   REFRESH=30           vdcfs refresh_seconds
#   TIMEOUT=900          seconds to wait for the vdcfs VMs to be InSync
#   STATE_PARENT=/var/tmp  where vdcfs's state_dir is made (not tmpfs)
#   VDCFS=path           binary to use (default: build/vdcfs, built if needed)
#   KEEP=1               keep the work directories (logs) on exit
#
# Needs root (FUSE, a private /run/libvirt for libvirtd).  Everything it
# starts (libvirtd, virsh, vdcfs, the mount) is torn down on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

N=${N:-1000}
WRITERS=${WRITERS:-1}
REFRESH=${REFRESH:-30}
TIMEOUT=${TIMEOUT:-900}
STATE_PARENT=${STATE_PARENT:-/var/tmp}
PREFIX=bench

die() { echo "apply.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# --- preconditions ------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root (FUSE, libvirtd with a private /run/libvirt)"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || die "N must be a number >= 1"
missing=()
for t in python3 libvirtd virsh fusermount3 cc pkg-config unshare mountpoint awk findmnt; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (Debian: libvirt-daemon libvirt-clients libvirt-dev gcc pkg-config fuse3 util-linux python3)"
pkg-config --exists libvirt || die "libvirt development files missing (Debian: libvirt-dev)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"

if [ -z "${VDCFS:-}" ]; then
  VDCFS=$ROOT/build/vdcfs
  if [ -f "$ROOT/build/build.ninja" ]; then
    # Only the daemon: the rest of the tree may be mid-edit.
    ninja -C "$ROOT/build" vdcfs >&2 || [ -x "$VDCFS" ] || die "build failed"
  else
    "$ROOT/scripts/build" build >&2 || die "build failed (scripts/build build)"
  fi
fi
[ -x "$VDCFS" ] || die "no vdcfs binary at $VDCFS"
VDCFS=$(readlink -f "$VDCFS")

# --- work area and cleanup ----------------------------------------------

WORK=$(mktemp -d /tmp/vdcfs-apply.XXXXXX)
STATE=$(mktemp -d "$STATE_PARENT/vdcfs-apply-state.XXXXXX")
MNT=$WORK/mnt
mkdir -p "$MNT" "$WORK/xml" "$WORK/specs"
LV_PID=
EVENT_PID=
VDCFS_PID=
LV_DIR=

stop_vdcfs() {
  if mountpoint -q "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
  fi
  if [ -n "$VDCFS_PID" ]; then
    for _ in $(seq 50); do kill -0 "$VDCFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$VDCFS_PID" 2>/dev/null || true
    wait "$VDCFS_PID" 2>/dev/null || true
    VDCFS_PID=
  fi
}

stop_libvirtd() {
  if [ -n "$EVENT_PID" ]; then
    kill "$EVENT_PID" 2>/dev/null || true
    wait "$EVENT_PID" 2>/dev/null || true
    EVENT_PID=
  fi
  if [ -n "$LV_PID" ]; then
    kill "$LV_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$LV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$LV_PID" 2>/dev/null || true
    wait "$LV_PID" 2>/dev/null || true
    LV_PID=
  fi
}

cleanup() {
  set +e
  trap - EXIT INT TERM
  stop_vdcfs
  stop_libvirtd
  if [ "${KEEP:-0}" = 1 ]; then
    note "kept $WORK and $STATE"
  else
    rm -rf "$WORK" "$STATE"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- libvirtd -----------------------------------------------------------

id libvirt-qemu >/dev/null 2>&1 || useradd -r libvirt-qemu
mkdir -p /run/libvirt

# start_libvirtd PHASE: a fresh libvirtd (empty test-driver /default) on
# PORT or a free port; sets URI.  A connection to /default is held open
# (virsh event --loop) so its state lives until the daemon is stopped.
start_libvirtd() {
  local phase=$1 port=${PORT:-$(free_port)}
  LV_DIR=$WORK/libvirtd-$phase
  mkdir -p "$LV_DIR"
  cat >"$LV_DIR/libvirtd.conf" <<CONF
listen_tcp = 1
listen_tls = 0
auth_tcp = "none"
listen_addr = "127.0.0.1"
tcp_port = "$port"
unix_sock_dir = "$LV_DIR"
log_outputs = "3:file:$LV_DIR/libvirtd.log"
CONF
  # A private /run/libvirt (a root libvirtd locks its drivers' pid files
  # there); "slave": the vdcfs mount made out here, and its unmount, reach
  # the daemon's namespace too.  unshare and sh exec, so $! is libvirtd.
  unshare -m --propagation slave sh -c \
    "mount -t tmpfs vdcfs-bench-run /run/libvirt && exec libvirtd --listen -f '$LV_DIR/libvirtd.conf' --pid-file '$LV_DIR/pid'" \
    >"$LV_DIR/stdout" 2>&1 &
  LV_PID=$!
  URI="test+tcp://127.0.0.1:$port/default"
  for _ in $(seq 300); do
    virsh -q -c "$URI" uri >/dev/null 2>&1 && break
    kill -0 "$LV_PID" 2>/dev/null || { cat "$LV_DIR/stdout" >&2; die "libvirtd ($phase) exited"; }
    sleep 0.1
  done
  virsh -q -c "$URI" uri >/dev/null 2>&1 || { cat "$LV_DIR/stdout" >&2; die "libvirtd ($phase) did not answer"; }
  virsh -q -c "$URI" event --loop --all >/dev/null 2>&1 &
  EVENT_PID=$!
  sleep 0.3
  local have
  have=$(virsh -q -c "$URI" list --all --name | grep -c "^$PREFIX-" || true)
  [ "$have" -eq 0 ] || die "libvirtd ($phase) is not empty: $have $PREFIX-* domains"
  note "libvirtd for $phase on 127.0.0.1:$port (pid $LV_PID)"
}

# running_count: domains PREFIX-* running on the current libvirtd, as
# virsh sees them from outside.
running_count() { virsh -q -c "$URI" list --name | grep -c "^$PREFIX-" || true; }

check_running() {
  local phase=$1 got
  got=$(running_count)
  [ "$got" -eq "$N" ] || die "$phase: virsh list shows $got running $PREFIX-* domains, expected $N"
  echo "$got"
}

# --- inputs (not timed) -------------------------------------------------

note "building apply_limit"
cc -O2 -Wall -o "$WORK/apply_limit" "$HERE/apply_limit.c" $(pkg-config --cflags --libs libvirt) \
  || die "could not build apply_limit"

note "writing $N domain XML files and $N spec files"
python3 - "$WORK/xml" "$WORK/specs" "$N" "$PREFIX" <<'PY'
import json, os, sys
xml_dir, spec_dir, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for i in range(1, n + 1):
    name = f"{prefix}-{i}"
    with open(os.path.join(xml_dir, name + ".xml"), "w") as f:
        f.write("<domain type='test'>"
                f"<name>{name}</name>"
                "<memory unit='MiB'>128</memory>"
                "<vcpu>1</vcpu>"
                "<os><type>hvm</type></os>"
                "</domain>\n")
    with open(os.path.join(spec_dir, name + ".json"), "w") as f:
        json.dump({"host": "alpha", "vcpus": 1, "memory_mib": 128, "state": "running"}, f)
        f.write("\n")
PY

# --- (a) the limit: libvirt API, one connection --------------------------

start_libvirtd limit
note "limit: apply_limit $URI $N $PREFIX"
LIMIT_S=$("$WORK/apply_limit" "$URI" "$N" "$PREFIX") || die "apply_limit failed"
LIMIT_RUNNING=$(check_running limit)
note "limit: $LIMIT_S s, $LIMIT_RUNNING running"
stop_libvirtd

# --- (b) the peer: virsh define + start per VM ---------------------------

start_libvirtd peer
note "peer: virsh define + virsh start, $N VMs"
t0=$(now)
for ((i = 1; i <= N; i++)); do
  virsh -q -c "$URI" define "$WORK/xml/$PREFIX-$i.xml" >/dev/null \
    && virsh -q -c "$URI" start "$PREFIX-$i" >/dev/null \
    || die "peer: virsh failed on $PREFIX-$i"
done
t1=$(now)
PEER_S=$(calc "$t1 - $t0")
PEER_RUNNING=$(check_running peer)
note "peer: $PEER_S s, $PEER_RUNNING running"
stop_libvirtd

# --- (c) vdcfs: mkdir + spec.json through the mount ----------------------

start_libvirtd vdcfs
STATE_FS=$(findmnt -n -o FSTYPE -T "$STATE")
STATE_SRC=$(findmnt -n -o SOURCE -T "$STATE")
STATE_DISK="not tmpfs"
[ "$STATE_FS" != tmpfs ] || { STATE_DISK="WARNING: tmpfs, not a disk"; note "WARNING: $STATE is on tmpfs; set STATE_PARENT to a disk directory"; }
python3 - "$WORK/vdcfs.json" "$STATE" "$REFRESH" "$URI" <<'PY'
import json, sys
out, state, refresh, uri = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
json.dump({"state_dir": state, "refresh_seconds": refresh,
           "hosts": [{"name": "alpha", "uri": uri}]}, open(out, "w"), indent=2)
PY
note "vdcfs: mounting on $MNT, state_dir $STATE ($STATE_FS on $STATE_SRC)"
"$VDCFS" --config "$WORK/vdcfs.json" -f "$MNT" >"$WORK/vdcfs.log" 2>&1 &
VDCFS_PID=$!
for _ in $(seq 300); do
  mountpoint -q "$MNT" && break
  kill -0 "$VDCFS_PID" 2>/dev/null || { cat "$WORK/vdcfs.log" >&2; die "vdcfs exited"; }
  sleep 0.1
done
mountpoint -q "$MNT" || { cat "$WORK/vdcfs.log" >&2; die "vdcfs did not mount"; }
[ -d "$MNT/vms" ] || die "no vms/ in the mount"

# One python3 process: reads the specs (untimed), then from the first
# write mkdir + writes spec.json for every VM (the close commits it), then
# polls the status.json of the VMs not yet in sync until all are.  Prints
# "WRITTEN_S INSYNC_S MKDIR_S" (MKDIR_S: the part of WRITTEN_S spent in
# mkdir) or, on timeout, "timeout PENDING EXAMPLE".
note "vdcfs: writing $N specs through the mount, waiting for InSync True"
set +e
VDCFS_OUT=$(WRITERS=$WRITERS python3 - "$MNT" "$WORK/specs" "$N" "$PREFIX" "$TIMEOUT" <<'PY'
import json, os, sys, time
mnt, spec_dir, n, prefix, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
names = [f"{prefix}-{i}" for i in range(1, n + 1)]
specs = {}
for name in names:
    with open(os.path.join(spec_dir, name + ".json"), "rb") as f:
        specs[name] = f.read()
vms = os.path.join(mnt, "vms")

def in_sync(name):
    try:
        with open(os.path.join(vms, name, "status.json"), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return False
    for c in doc.get("conditions") or []:
        if c.get("type") == "InSync":
            return c.get("status") == "True"
    return False

import threading
writers = int(os.environ.get("WRITERS", "1"))
t_mkdir = [0.0] * writers
errors = []

def write_share(k):
    # Writer k takes every writers-th VM; the GIL is released in the
    # system calls, so the writers' round trips to the mount overlap.
    try:
        for name in names[k::writers]:
            d = os.path.join(vms, name)
            a = time.monotonic()
            os.mkdir(d)
            t_mkdir[k] += time.monotonic() - a
            with open(os.path.join(d, "spec.json"), "wb") as f:
                f.write(specs[name])
    except OSError as e:
        errors.append(str(e))

t0 = time.monotonic()
threads = [threading.Thread(target=write_share, args=(k,)) for k in range(writers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    print("error", errors[0])
    sys.exit(4)
t_written = time.monotonic() - t0
t_mkdir = sum(t_mkdir) / writers
# Waits for the VMs in the order they were written, one at a time: a
# status.json is read again only while its VM is the oldest not in sync,
# so the polling costs the daemon little.
for i, name in enumerate(names):
    while not in_sync(name):
        if time.monotonic() - t0 > timeout:
            print("timeout", len(names) - i, name)
            sys.exit(3)
        time.sleep(0.005)
print("%.6f %.6f %.6f" % (t_written, time.monotonic() - t0, t_mkdir))
PY
)
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "apply.sh: vdcfs phase failed (exit $rc): ${VDCFS_OUT:-no output}" >&2
  ex=$PREFIX-1
  [[ "$VDCFS_OUT" == timeout* ]] && ex=$(awk '{print $3}' <<<"$VDCFS_OUT")
  {
    echo "--- $MNT/events (last 40 lines)"
    tail -n 40 "$MNT/events" 2>&1
    echo "--- $MNT/vms/$ex/status.json"
    cat "$MNT/vms/$ex/status.json" 2>&1
    echo "--- $MNT/vms/$ex/spec.json"
    cat "$MNT/vms/$ex/spec.json" 2>&1
    echo "--- virsh list --all: $(virsh -q -c "$URI" list --all --name | grep -c . || true) domains, $(running_count) running"
    echo "--- vdcfs log (last 20 lines)"
    tail -n 20 "$WORK/vdcfs.log"
  } >&2
  exit 1
fi
read -r VDCFS_WRITTEN_S VDCFS_S VDCFS_MKDIR_S <<<"$VDCFS_OUT"
VDCFS_RUNNING=$(check_running vdcfs)
STATE_SPECS=$(find "$STATE/vms" -mindepth 2 -maxdepth 2 -name spec.json 2>/dev/null | wc -l)
STATE_DU=$(du -sh "$STATE" | awk '{print $1}')
VDCFS_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$VDCFS_PID/status")
VDCFS_CPU_S=$(calc "$(awk '{print $14 + $15}' "/proc/$VDCFS_PID/stat") / $(getconf CLK_TCK)")
note "vdcfs: specs written after $VDCFS_WRITTEN_S s, all InSync after $VDCFS_S s, $VDCFS_RUNNING running"
stop_vdcfs
stop_libvirtd

# What a durable write costs on the state_dir's disk, to read the vdcfs
# figure against (vdcfs persists every spec before it answers the close).
DURABLE_MS=$(python3 - "$STATE" <<'PY'
import os, statistics, sys, time
d = os.path.join(sys.argv[1], "fsync-probe")
os.mkdir(d)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
times = []
for i in range(200):
    t = time.monotonic()
    fd = os.open(os.path.join(d, "f.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b'{"host": "alpha", "vcpus": 1, "memory_mib": 128, "state": "running"}\n')
    os.fsync(fd)
    os.close(fd)
    os.rename(os.path.join(d, "f.tmp"), os.path.join(d, "f"))
    os.fsync(dfd)
    times.append(time.monotonic() - t)
print("%.3f" % (statistics.median(times) * 1000))
PY
)

# --- the table ----------------------------------------------------------

row() { printf '%-44s %10s %10s %8s\n' "$@"; }
secs() { awk -v t="$1" 'BEGIN { printf "%.2f", t }'; }
rate() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms_per() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.2f", t * 1000 / n }'; }

cat <<EOF

vdcfs apply benchmark — $(date -u +%Y-%m-%dT%H:%MZ)
machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)
software: $("$VDCFS" --version 2>/dev/null | head -1), $(libvirtd --version)
N = $N VMs (1 vcpu, 128 MiB, running), one libvirtd (test driver, /default over TCP), a fresh daemon for each way
vdcfs state_dir: $STATE ($STATE_FS on $STATE_SRC, $STATE_DISK), refresh_seconds $REFRESH

EOF
row "way" "seconds" "VMs/s" "/limit"
row "--------------------------------------------" "----------" "----------" "--------"
row "limit: libvirt API, 1 connection (C)" "$(secs "$LIMIT_S")" "$(rate "$LIMIT_S")" "1.00"
row "peer: virsh define + virsh start per VM" "$(secs "$PEER_S")" "$(rate "$PEER_S")" "$(ratio "$PEER_S" "$LIMIT_S")"
row "vdcfs: mkdir + spec.json, $WRITERS writer(s) -> InSync" "$(secs "$VDCFS_S")" "$(rate "$VDCFS_S")" "$(ratio "$VDCFS_S" "$LIMIT_S")"
cat <<EOF

vdcfs/limit = $(ratio "$VDCFS_S" "$LIMIT_S") (target <= 1.3)
peer/limit  = $(ratio "$PEER_S" "$LIMIT_S")
peer/vdcfs  = $(ratio "$PEER_S" "$VDCFS_S")

notes:
- limit: virDomainDefineXML + virDomainCreate per VM over one connection,
  the loop timed inside the program (connecting not counted).
- peer: two virsh processes (two connections) per VM; the XML files were
  written before the clock started.
- vdcfs: one python3 process, $WRITERS writer thread(s), did mkdir + write
  spec.json (the close commits the spec) for every VM: $(secs "$VDCFS_WRITTEN_S") s, $(ms_per "$VDCFS_WRITTEN_S") ms per VM, of which
  $(secs "$VDCFS_MKDIR_S") s in mkdir (per writer); then it polled status.json
  VM by VM in the order written, each until InSync.  The time is from the first write until every status.json had
  InSync True; the spec texts were read before the clock started.
  After it: $STATE_SPECS spec.json files ($STATE_DU) in the state_dir; vdcfs
  had used $(secs "$VDCFS_CPU_S") s of CPU since mounting; RSS $(awk -v k="$VDCFS_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }') MiB.
- the state_dir's disk: one durable small-file replace (write, fsync,
  rename, fsync the directory) takes $(awk -v t="$DURABLE_MS" 'BEGIN { printf "%.2f", t }') ms there (median of 200).
- checked from outside with virsh list after each way: limit $LIMIT_RUNNING, peer $PEER_RUNNING,
  vdcfs $VDCFS_RUNNING running $PREFIX-* domains (of $N).
EOF
