# array_lib.sh — shared by bench/snapshot.sh and bench/stream.sh (sourced,
# not run): a private libvirtd serving the test driver, a private tgtd on a
# loopback portal, a loop-mounted XFS with reflink for its backing files, a
# vdcfs mount, timing helpers, and one cleanup that undoes all of it on exit
# (Ctrl-C included).  Every process it stops is one it started, by pid.
#
# The sourcing script sets BENCH (its name, for messages) before sourcing.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

die() { echo "$BENCH: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# --- preconditions ------------------------------------------------------

# need_tools TOOL...: dies naming the missing ones.
need_tools() {
  local missing=() t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] ||
    die "missing tools: ${missing[*]} (Debian: tgt libvirt-daemon libvirt-clients fuse3 xfsprogs jq python3 qemu-utils qemu-block-extra libiscsi-bin)"
}

[ "$(id -u)" -eq 0 ] || die "run as root (tgtd, a loop mount, FUSE, drop_caches, libvirtd)"
need_tools tgtd tgtadm libvirtd virsh fusermount3 mkfs.xfs mount umount unshare mountpoint \
  truncate dd cp cmp jq python3 awk sort
[ -e /dev/fuse ] || die "/dev/fuse is missing"

# The binary: VDCFS, else an optimised build of our own (build-bench,
# made with meson --buildtype=release if it is not there), else build-dev.
if [ -z "${VDCFS:-}" ]; then
  VDCFS=$ROOT/build-bench/vdcfs
  if command -v ninja >/dev/null 2>&1; then
    if [ ! -f "$ROOT/build-bench/build.ninja" ]; then
      meson setup "$ROOT/build-bench" "$ROOT" --buildtype=release >&2 || note "meson setup build-bench failed"
    fi
    # Only the daemon: the rest of the tree may be mid-edit.
    [ -f "$ROOT/build-bench/build.ninja" ] && { ninja -C "$ROOT/build-bench" vdcfs >&2 || note "build failed; using what is there"; }
  fi
  [ -x "$VDCFS" ] || VDCFS=$ROOT/build-dev/vdcfs
fi
[ -x "$VDCFS" ] || die "no vdcfs binary at $VDCFS"
VDCFS=$(readlink -f "$VDCFS")

# --- work area and cleanup ----------------------------------------------

WORK=$(mktemp -d "/var/tmp/vdcfs-$BENCH.XXXXXX")
MNT=$WORK/mnt
VDCFS_PID=
TGTD_PID=
TGT_CTL=
LV_PID=
EVENT_PID=
XFS_DIR=
EXTRA_MOUNTS=()

stop_vdcfs() {
  if mountpoint -q "$MNT" 2>/dev/null; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
  fi
  if [ -n "$VDCFS_PID" ]; then
    for _ in $(seq 50); do kill -0 "$VDCFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$VDCFS_PID" 2>/dev/null || true
    wait "$VDCFS_PID" 2>/dev/null || true
    VDCFS_PID=
  fi
}

# tgtd ignores SIGTERM while it has targets: our own instance gets SIGKILL,
# which leaves its control socket behind, so that goes too.
stop_tgtd() {
  if [ -n "$TGTD_PID" ]; then
    kill -9 "$TGTD_PID" 2>/dev/null || true
    wait "$TGTD_PID" 2>/dev/null || true
    TGTD_PID=
  fi
  if [ -n "$TGT_CTL" ]; then
    rm -f "/var/run/tgtd/socket.$TGT_CTL" "/var/run/tgtd/socket.$TGT_CTL.lock"
    TGT_CTL=
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
  stop_tgtd
  stop_libvirtd
  local m
  for m in "${EXTRA_MOUNTS[@]}"; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  if [ -n "$XFS_DIR" ] && mountpoint -q "$XFS_DIR"; then
    # mount -o loop set autoclear: the loop device goes with the unmount.
    umount "$XFS_DIR" 2>/dev/null || umount -l "$XFS_DIR" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    note "kept $WORK (without the XFS image's mount)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The daemons run in sessions of their own (setsid, which execs: $! is the
# daemon): a Ctrl-C reaches this script and its foreground command only,
# and cleanup stops the daemons in order (vdcfs first, while the array and
# the host still answer).

# --- small helpers ------------------------------------------------------

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS COMMAND...: polls until the command succeeds.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while ! "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

# Wall-clock seconds, without a fork (bash 5).
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# stats < seconds, one a line: "median p90 min max n" in milliseconds
# (p90 by nearest rank).
stats_ms() {
  sort -g | awk '{ v[NR] = $1 * 1000 }
    END {
      if (NR == 0) { print "- - - - 0"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      r = int(0.9 * NR); if (r < 0.9 * NR) r++; if (r < 1) r = 1
      printf "%.1f %.1f %.1f %.1f %d\n", m, v[r], v[1], v[NR], NR
    }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else printf "%.6f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

machine_note() {
  echo "machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "software: $("$VDCFS" --version 2>/dev/null | head -1) ($VDCFS), $(tgtd --version 2>/dev/null | head -1 | sed 's/^/tgtd /'), $(libvirtd --version)"
}

# --- libvirtd (test driver over TCP) -------------------------------------

# start_libvirtd: a private libvirtd on a free loopback port, in a mount
# namespace of its own with a private /run/libvirt ("slave": mounts made
# out here, and their unmounts, reach it); holds /default open so its state
# lives.  Sets URI.
start_libvirtd() {
  local port dir=$WORK/libvirtd
  port=$(free_port)
  id libvirt-qemu >/dev/null 2>&1 || useradd -r libvirt-qemu
  mkdir -p "$dir" /run/libvirt
  cat >"$dir/libvirtd.conf" <<CONF
listen_tcp = 1
listen_tls = 0
auth_tcp = "none"
listen_addr = "127.0.0.1"
tcp_port = "$port"
unix_sock_dir = "$dir"
log_outputs = "3:file:$dir/libvirtd.log"
CONF
  setsid unshare -m --propagation slave sh -c \
    "mount -t tmpfs vdcfs-bench-run /run/libvirt && exec libvirtd --listen -f '$dir/libvirtd.conf' --pid-file '$dir/pid'" \
    >"$dir/stdout" 2>&1 &
  LV_PID=$!
  URI="test+tcp://127.0.0.1:$port/default"
  wait_until 30 virsh -q -c "$URI" uri || { cat "$dir/stdout" >&2; die "libvirtd did not answer"; }
  setsid virsh -q -c "$URI" event --loop --all >/dev/null 2>&1 &
  EVENT_PID=$!
  sleep 0.3
  note "libvirtd on 127.0.0.1:$port (pid $LV_PID)"
}

# define_vm NAME LUN: a running test-driver VM with one virtio disk, LUN
# of our tgtd.
define_vm() {
  cat >"$WORK/$1.xml" <<XML
<domain type='test'><name>$1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><disk type='network' device='disk'><source protocol='iscsi' name='$TGT_IQN/$2'><host name='127.0.0.1' port='$TGT_PORT'/></source><target dev='vda' bus='virtio'/></disk></devices>
</domain>
XML
  virsh -q -c "$URI" define "$WORK/$1.xml" >/dev/null && virsh -q -c "$URI" start "$1" >/dev/null ||
    die "could not define and start VM $1"
}

# --- the reflink filesystem ----------------------------------------------

# reflink_fs SIZE: a sparse image of SIZE made XFS with reflink, loop-mounted
# on $WORK/xfs (sets XFS_DIR).  Dies where that cannot be made: these
# benchmarks are about copy-on-write snapshots.
reflink_fs() {
  local img=$WORK/xfs.img
  XFS_DIR=$WORK/xfs
  mkdir -p "$XFS_DIR"
  truncate -s "$1" "$img"
  mkfs.xfs -q -m reflink=1 "$img" || die "mkfs.xfs -m reflink=1 failed"
  mount -o loop "$img" "$XFS_DIR" || { XFS_DIR=; die "cannot loop-mount the XFS image"; }
  note "XFS with reflink on $XFS_DIR ($1 sparse image, $(findmnt -n -o SOURCE "$XFS_DIR"))"
}

# --- tgtd ---------------------------------------------------------------

# start_tgtd: a private tgtd on a free loopback portal with a control port
# of its own and one target.  Sets TGT_PORT, TGT_PORTAL, TGT_CTL, TGT_IQN,
# TGTD_PID and TGTADM (the command prefix).
start_tgtd() {
  TGT_PORT=$(free_port)
  TGT_PORTAL=127.0.0.1:$TGT_PORT
  local ctl=$((2000 + RANDOM % 20000)) # tgtd takes -C below 32768
  while [ -e "/var/run/tgtd/socket.$ctl" ]; do ctl=$((ctl + 1)); done
  TGT_CTL=$ctl
  setsid tgtd -f --iscsi "portal=$TGT_PORTAL" -C "$ctl" >"$WORK/tgtd.log" 2>&1 &
  TGTD_PID=$!
  TGTADM="tgtadm -C $ctl --lld iscsi"
  wait_until 10 $TGTADM --mode sys --op show || { cat "$WORK/tgtd.log" >&2; die "tgtd did not start"; }
  TGT_IQN="iqn.2026-11.org.vdcfs.bench:$BENCH"
  $TGTADM --mode target --op new --tid 1 -T "$TGT_IQN" &&
    $TGTADM --mode target --op bind --tid 1 -I ALL || die "tgtadm: cannot make the target"
  note "tgtd on $TGT_PORTAL, control port $ctl (pid $TGTD_PID)"
}

# add_lun LUN FILE: exports FILE as LUN, thin provisioned (so GET LBA
# STATUS reports the holes).
add_lun() {
  $TGTADM --mode logicalunit --op new --tid 1 --lun "$1" -b "$2" &&
    $TGTADM --mode logicalunit --op update --tid 1 --lun "$1" --params thin_provisioning=1 ||
    die "tgtadm: cannot export $2 as LUN $1"
}

# --- vdcfs --------------------------------------------------------------

# mount_vdcfs BACKING_DIR: writes the config (host alpha = our libvirtd,
# array1 = our tgtd) and mounts vdcfs on $MNT in the foreground (so we know
# its pid); waits until the array is connected.
mount_vdcfs() {
  mkdir -p "$MNT" "$WORK/state"
  cat >"$WORK/vdcfs.json" <<JSON
{"state_dir": "$WORK/state", "refresh_seconds": ${REFRESH:-30}, "snapshot_timeout_seconds": 60,
 "hosts": [{"name": "alpha", "uri": "$URI"}],
 "arrays": [{"name": "array1", "driver": "tgt", "portal": "$TGT_PORTAL", "target": "$TGT_IQN",
             "backing_dir": "$1", "control_port": $TGT_CTL}]}
JSON
  setsid "$VDCFS" --config "$WORK/vdcfs.json" -f "$MNT" >"$WORK/vdcfs.log" 2>&1 &
  VDCFS_PID=$!
  local i
  for i in $(seq 300); do
    mountpoint -q "$MNT" && break
    kill -0 "$VDCFS_PID" 2>/dev/null || { cat "$WORK/vdcfs.log" >&2; die "vdcfs exited"; }
    sleep 0.1
  done
  mountpoint -q "$MNT" || { cat "$WORK/vdcfs.log" >&2; die "vdcfs did not mount"; }
  wait_until 30 jq -e '.connected' "$MNT/arrays/array1/info.json" ||
    die "vdcfs: array1 is not connected: $(cat "$MNT/arrays/array1/info.json" 2>&1)"
  note "vdcfs mounted on $MNT (pid $VDCFS_PID)"
}

# wait_vm VM: until vms/VM/ shows its disk on array1.
wait_vm() {
  wait_until 30 test -d "$MNT/vms/$1/snapshots" || die "vdcfs does not show vms/$1/snapshots"
}
