# lib.sh — helpers for the integration tests (sourced by each test).
#
# Every test gets a private temporary directory, real FUSE mounts of the
# vdcfs binary ($VDCFS, set by meson) and, where needed, private libvirtd
# daemons serving libvirt's test driver over TCP on loopback.  Everything
# is torn down on exit, whatever happens.

set -uo pipefail

: "${VDCFS:?VDCFS must point at the vdcfs binary}"
TESTS_RUN=0
TESTS_FAILED=0
T=$(mktemp -d /tmp/vdcfs-test.XXXXXX)
MOUNTS=()
DAEMONS=()

# Sanitizer reports of the daemon (stderr is gone once it detaches) go to
# files that finish() looks at.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$T/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$T/sanitizer"

# Unmounts everything and stops every helper process; waits (bounded)
# for the vdcfs daemons to exit so that their leak reports are written.
stop_everything() {
  local m p
  for m in "${MOUNTS[@]}"; do
    fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
  done
  MOUNTS=()
  for p in "${DAEMONS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
  done
  DAEMONS=()
  for _ in $(seq 50); do
    pgrep -f "vdcfs.*$T" >/dev/null || break
    sleep 0.2
  done
  pkill -9 -f "vdcfs.*$T" 2>/dev/null || true
}

TGT_CONTROL_PORTS=()
LOOP_MOUNTS=()
cleanup() {
  local c
  stop_everything
  for c in "${LOOP_MOUNTS[@]}"; do umount "$c" 2>/dev/null || umount -l "$c" 2>/dev/null || true; done
  # tgtd killed with SIGKILL leaves its control socket behind.
  for c in "${TGT_CONTROL_PORTS[@]}"; do
    rm -f "/var/run/tgtd/socket.$c" "/var/run/tgtd/socket.$c.lock"
  done
  rm -rf "$T"
}
trap cleanup EXIT

log() { echo "# $*"; }

# track PID: kill this background process at exit (quietly).
track() {
  DAEMONS+=("$1")
  disown "$1" 2>/dev/null || true
}

# stop_tracked PID...: kill now.
stop_tracked() {
  local p
  for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
}

pass() { TESTS_RUN=$((TESTS_RUN + 1)); echo "ok $TESTS_RUN - $*"; }
fail() {
  TESTS_RUN=$((TESTS_RUN + 1)); TESTS_FAILED=$((TESTS_FAILED + 1))
  echo "not ok $TESTS_RUN - $*"
}

# check DESCRIPTION COMMAND...: passes if the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

# wait_until SECONDS COMMAND...: polls until the command succeeds.  The
# limit is a generous bound against hangs, not a performance assertion.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while ! "$@" 2>/dev/null; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
  return 0
}

finish() {
  stop_everything
  local report
  for report in "$T"/sanitizer*; do
    [ -e "$report" ] || continue
    fail "sanitizer report from the daemon: $report"
    sed 's/^/#   /' "$report" | head -n 60
  done
  echo "1..$TESTS_RUN"
  echo "$((TESTS_RUN - TESTS_FAILED)) passed, $TESTS_FAILED failed"
  [ "$TESTS_FAILED" -eq 0 ]
  exit
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_libvirtd NAME: starts a private libvirtd serving the test driver
# on a free loopback port; sets LV_PORT_<NAME> and LV_PID_<NAME>.
start_libvirtd() {
  local name=$1 dir="$T/libvirtd-$1" port
  port=${2:-$(free_port)}
  mkdir -p "$dir"
  cat >"$dir/libvirtd.conf" <<CONF
listen_tcp = 1
listen_tls = 0
auth_tcp = "none"
listen_addr = "127.0.0.1"
tcp_port = "$port"
unix_sock_dir = "$dir"
log_outputs = "1:file:$dir/libvirtd.log"
log_filters = "1:rpc.keepalive 3:*"
CONF
  # Each daemon gets its own /run/libvirt (a tmpfs in a mount namespace of
  # its own): libvirtd's drivers keep pid files there, and two daemons on
  # one machine would otherwise refuse each other.  "slave" propagation:
  # unmounting a vdcfs mount out here unmounts the namespace's copy too.
  mkdir -p /run/libvirt
  unshare -m --propagation slave sh -c \
    "mount -t tmpfs vdcfs-test /run/libvirt && exec libvirtd --listen -f '$dir/libvirtd.conf' --pid-file '$dir/pid'" \
    >"$dir/stdout" 2>&1 &
  local pid=$!
  track "$pid"
  printf -v "LV_PORT_$name" '%s' "$port"
  printf -v "LV_PID_$name" '%s' "$pid"
  if ! wait_until 20 virsh -q -c "test+tcp://127.0.0.1:$port/default" uri >/dev/null; then
    echo "libvirtd $name did not start:"; cat "$dir/stdout"
    return 1
  fi
}

# keep_default_open NAME: holds a connection to /default so its state
# lives (libvirtd drops it when the last connection closes).
keep_default_open() {
  local port_var="LV_PORT_$1"
  virsh -q -c "test+tcp://127.0.0.1:${!port_var}/default" event --loop --all >/dev/null 2>&1 &
  track $!
  sleep 0.3
}

# start_two_hosts: libvirtd daemons A and B, their /default kept alive;
# sets URI_A and URI_B.  Ends the test if one does not start.
start_two_hosts() {
  local h
  for h in A B; do
    start_libvirtd $h || { fail "start libvirtd $h"; finish; }
    keep_default_open $h
  done
  URI_A="test+tcp://127.0.0.1:$LV_PORT_A/default"
  URI_B="test+tcp://127.0.0.1:$LV_PORT_B/default"
}

# domain_xml NAME [STATE]: a small test-driver domain definition.
domain_xml() {
  cat <<XML
<domain type='test'>
  <name>$1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/images/$1.img'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><source network='default'/></interface>
  </devices>
</domain>
XML
}

# mount_vdcfs MOUNTPOINT ARGS...: mounts and registers for cleanup.
mount_vdcfs() {
  local mnt=$1; shift
  mkdir -p "$mnt"
  MOUNTS+=("$mnt")
  "$VDCFS" "$@" "$mnt"
}

vdcfs_pid() {
  pgrep -f "vdcfs.* $1\$" | head -n1
}

# jqt FILTER FILE: jq -e without the output (a test, not a query).
jqt() { jq -e "$@" >/dev/null; }

# start_tgtd NAME BACKING_DIR SIZE...: a private tgtd (an iSCSI array) on
# a free loopback portal with its own control port, one target
# iqn.2026-11.org.vdcfs.test:NAME, and LUNs 1..n backed by sparse files
# BACKING_DIR/lun<i>.img of the SIZEs given (truncate's syntax).  Sets
# TGT_PORTAL_<NAME>, TGT_CTL_<NAME>, TGT_IQN_<NAME>, TGT_PID_<NAME>.
start_tgtd() {
  local name=$1 dir=$2; shift 2
  local port ctl i=0 pid
  port=$(free_port)
  ctl=$((2000 + RANDOM % 20000)) # tgtd takes -C below 32768
  while [ -e "/var/run/tgtd/socket.$ctl" ]; do ctl=$((ctl + 1)); done
  mkdir -p "$dir"
  TGT_CONTROL_PORTS+=("$ctl")
  tgtd -f --iscsi "portal=127.0.0.1:$port" -C "$ctl" >"$T/tgtd-$name.log" 2>&1 &
  pid=$!
  track "$pid"
  wait_until 10 tgtadm -C "$ctl" --mode sys --op show >/dev/null || { cat "$T/tgtd-$name.log"; return 1; }
  local iqn="iqn.2026-11.org.vdcfs.test:$name" a="tgtadm -C $ctl --lld iscsi"
  $a --mode target --op new --tid 1 -T "$iqn" && $a --mode target --op bind --tid 1 -I ALL || return 1
  for size in "$@"; do
    i=$((i + 1))
    truncate -s "$size" "$dir/lun$i.img"
    $a --mode logicalunit --op new --tid 1 --lun "$i" -b "$dir/lun$i.img" &&
      $a --mode logicalunit --op update --tid 1 --lun "$i" --params thin_provisioning=1 || return 1
  done
  printf -v "TGT_PORTAL_$name" '%s' "127.0.0.1:$port"
  printf -v "TGT_CTL_$name" '%s' "$ctl"
  printf -v "TGT_IQN_$name" '%s' "$iqn"
  printf -v "TGT_PID_$name" '%s' "$pid"
}

# reflink_dir DIR SIZE: DIR on a loop-mounted XFS with reflink (so that a
# snapshot is a copy-on-write clone); a plain directory, with a note,
# where that cannot be made.  Sets REFLINK=1 or 0.
reflink_dir() {
  local dir=$1 size=$2
  mkdir -p "$dir"
  REFLINK=0
  truncate -s "$size" "$dir.xfs" &&
    mkfs.xfs -q -m reflink=1 "$dir.xfs" 2>/dev/null &&
    mount -o loop "$dir.xfs" "$dir" 2>/dev/null && {
      LOOP_MOUNTS+=("$dir")
      REFLINK=1
      return 0
    }
  log "no loop-mounted XFS here: snapshots are copies (cow false)"
}
