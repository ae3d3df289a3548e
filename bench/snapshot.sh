#!/usr/bin/env bash
# snapshot.sh — vdcfs snapshot latency against LUN size (issue 5), with the
# bare array operation as the limit, side by side in one run.
#
#   sudo bench/snapshot.sh              # REPEAT=10 snapshots per size
#   sudo REPEAT=30 bench/snapshot.sh    # tighter percentiles
#
# What it sets up: a loop-mounted XFS with reflink (a sparse image file);
# on it three sparse LUN backing files of 64 MiB, 1 GiB and 16 GiB, each
# with 64 chunks of random data spread evenly over it (1 MiB chunks, 64 MiB
# in all, in the 1 and 16 GiB ones; 512 KiB chunks in the 64 MiB one, so
# every LUN has the same number of extents and only the size differs); a
# private tgtd exporting them (thin provisioned) on a loopback portal; a
# private libvirtd serving the test driver with three running VMs, each
# with one disk on one of the LUNs; vdcfs mounted with that host and array.
#
# What it measures, interleaved (for each round, each size in turn):
#   vdcfs  `mkdir vms/<vm>/snapshots/sN` through the mount: quiesce (the
#          test driver's guest-agent freeze), array snapshot (FICLONE of
#          the backing file, fsync, rename, tgtadm show/new/update),
#          record in state_dir, thaw.  Checked after each one (exit status,
#          info.json has a snapshot LUN and cow true; abort otherwise), then
#          `rmdir` (not timed).
#   limit  the same clone + export done directly: `cp --reflink=always`
#          of the backing file (plus `sync FILE`, the fsync vdcfs does to
#          make the image durable; LIMIT_FSYNC=0 leaves it out), `tgtadm
#          --op new` of a new LUN and `--op update --params readonly=1`;
#          then the LUN and the file are deleted (not timed).
# It prints the median and p90 per size and way, what vdcfs adds on top of
# the limit, and the headline ratio vdcfs 16 GiB median / 64 MiB median
# (target <= 1.2: a snapshot's cost must not grow with the LUN's size).
#
# Environment (all optional):
#   REPEAT=10        timed snapshots per size and way (after WARMUP)
#   WARMUP=1         untimed snapshots per size first (sessions, caches)
#   LIMIT_FSYNC=1    0: the limit without `sync FILE`
#   REFRESH=30       vdcfs refresh_seconds
#   XFS_SIZE=64G     the sparse XFS image (only written blocks take space)
#   VDCFS=path       binary (default: build-bench/vdcfs, an optimised build
#                    made here if missing, else build-dev/vdcfs)
#   KEEP=1           keep the work directory (/var/tmp/vdcfs-snapshot.*)
#
# Needs root (tgtd, a loop mount, FUSE, libvirtd) and the Debian packages
# tgt, xfsprogs, libvirt-daemon, libvirt-clients, fuse3, jq, python3.
# Everything it starts (vdcfs and its mount, tgtd and its control socket,
# libvirtd, the loop mount) is torn down on exit, Ctrl-C included.
set -euo pipefail

BENCH=snapshot
source "$(dirname "${BASH_SOURCE[0]}")/array_lib.sh"

REPEAT=${REPEAT:-10}
WARMUP=${WARMUP:-1}
LIMIT_FSYNC=${LIMIT_FSYNC:-1}
XFS_SIZE=${XFS_SIZE:-64G}
[[ "$REPEAT" =~ ^[0-9]+$ ]] && [ "$REPEAT" -ge 1 ] || die "REPEAT must be a number >= 1"

LABELS=(64MiB 1GiB 16GiB)
SIZES=(64M 1G 16G)
VMS=(snap-64m snap-1g snap-16g)

# --- set-up (not timed) -------------------------------------------------

start_libvirtd
reflink_fs "$XFS_SIZE"
BACKING=$XFS_DIR/array1
LIMIT_DIR=$XFS_DIR/limit # same filesystem (reflink), outside backing_dir
mkdir -p "$BACKING" "$LIMIT_DIR"

# fill FILE SIZE: sparse, with 64 random chunks spread evenly.
fill() {
  local file=$1 bytes chunk stride k
  truncate -s "$2" "$file"
  bytes=$(stat -c %s "$file")
  chunk=$((bytes / 128)); [ $chunk -gt 1048576 ] && chunk=1048576
  stride=$((bytes / 64))
  for ((k = 0; k < 64; k++)); do
    dd if=/dev/urandom of="$file" bs="$chunk" count=1 seek=$((k * stride / chunk)) \
      conv=notrunc status=none
  done
  sync "$file"
}
start_tgtd
for i in 0 1 2; do
  fill "$BACKING/lun$((i + 1)).img" "${SIZES[$i]}"
  add_lun $((i + 1)) "$BACKING/lun$((i + 1)).img"
  note "LUN $((i + 1)): ${LABELS[$i]}, $(du -m "$BACKING/lun$((i + 1)).img" | cut -f1) MiB allocated, $(xfs_io -c 'fiemap' "$BACKING/lun$((i + 1)).img" 2>/dev/null | grep -v hole | tail -n +2 | grep -c . || echo '?') data extents"
done
for i in 0 1 2; do define_vm "${VMS[$i]}" $((i + 1)); done
mount_vdcfs "$BACKING"
for vm in "${VMS[@]}"; do wait_vm "$vm"; done

snaps_on_array() { $TGTADM --mode target --op show | grep -c 'Backing store path: .*\.vdcfs-snapshots/' || true; }

# vdcfs_snapshot VM NAME: mkdir through the mount; prints its seconds on
# success, dies with what the mount says otherwise.
vdcfs_snapshot() {
  local d=$MNT/vms/$1/snapshots/$2 t0 t1 rc=0
  t0=$(now)
  mkdir "$d" 2>"$WORK/mkdir.err" || rc=$?
  t1=$(now)
  if [ $rc -ne 0 ]; then
    echo "$BENCH: mkdir $d failed: $(cat "$WORK/mkdir.err")" >&2
    jq -c '.snapshots' "$MNT/vms/$1/status.json" >&2 || true
    tail -n 5 "$MNT/events" >&2 || true
    exit 1
  fi
  jq -e '(.disks | length) == 1 and (.disks[0].snapshot_lun | type) == "number" and .disks[0].cow == true' \
    "$d/info.json" >/dev/null || die "mkdir $d: info.json is not a copy-on-write array snapshot: $(cat "$d/info.json")"
  CONSISTENCY=$(jq -r .consistency "$d/info.json")
  elapsed "$t0" "$t1"
}

vdcfs_delete() {
  rmdir "$MNT/vms/$1/snapshots/$2" || die "rmdir vms/$1/snapshots/$2 failed"
  [ ! -e "$MNT/vms/$1/snapshots/$2" ] || die "vms/$1/snapshots/$2 still there after rmdir"
}

# limit_snapshot FILE: the bare clone + read-only export; prints seconds.
LIMIT_LUN=100
limit_snapshot() {
  local src=$1 dst=$LIMIT_DIR/$(basename "$1").snap t0 t1
  t0=$(now)
  cp --reflink=always "$src" "$dst"
  [ "$LIMIT_FSYNC" = 0 ] || sync "$dst"
  $TGTADM --mode logicalunit --op new --tid 1 --lun $LIMIT_LUN -b "$dst" >/dev/null
  $TGTADM --mode logicalunit --op update --tid 1 --lun $LIMIT_LUN --params readonly=1 >/dev/null
  t1=$(now)
  $TGTADM --mode logicalunit --op delete --tid 1 --lun $LIMIT_LUN >/dev/null ||
    die "tgtadm: cannot delete limit LUN $LIMIT_LUN"
  rm -f "$dst"
  elapsed "$t0" "$t1"
}

# --- measurement --------------------------------------------------------

for i in 0 1 2; do
  : >"$WORK/vdcfs-$i.times"
  : >"$WORK/limit-$i.times"
done
CONSISTENCY=?
note "warm-up: $WARMUP untimed snapshot(s) per size"
for ((r = 1; r <= WARMUP; r++)); do
  for i in 0 1 2; do
    vdcfs_snapshot "${VMS[$i]}" "warm$r" >/dev/null
    vdcfs_delete "${VMS[$i]}" "warm$r"
    limit_snapshot "$BACKING/lun$((i + 1)).img" >/dev/null
  done
done
note "measuring: $REPEAT rounds, each size in turn, vdcfs then limit"
for ((r = 1; r <= REPEAT; r++)); do
  for i in 0 1 2; do
    t=$(vdcfs_snapshot "${VMS[$i]}" "s$r")
    echo "$t" >>"$WORK/vdcfs-$i.times"
    vdcfs_delete "${VMS[$i]}" "s$r"
    echo "$(limit_snapshot "$BACKING/lun$((i + 1)).img")" >>"$WORK/limit-$i.times"
  done
  printf '.' >&2
done
echo >&2
# One more, to read what it says (not timed).
vdcfs_snapshot "${VMS[0]}" probe >/dev/null
CONSISTENCY=$(jq -r .consistency "$MNT/vms/${VMS[0]}/snapshots/probe/info.json")
vdcfs_delete "${VMS[0]}" probe
LEFT=$(snaps_on_array)
[ "$LEFT" -eq 0 ] || note "WARNING: $LEFT snapshot LUNs left on the array after the rmdirs"
for vm in "${VMS[@]}"; do
  st=$(virsh -q -c "$URI" domstate "$vm" | head -n1)
  [ "$st" = running ] || die "VM $vm is $st after the snapshots, not running"
done
VDCFS_CPU_S=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$VDCFS_PID/stat")
ERRS=$(grep -ci 'error\|warn' "$WORK/vdcfs.log" || true)

# --- the table ----------------------------------------------------------

declare -a VMED VP90 LMED LP90
for i in 0 1 2; do
  read -r VMED[$i] VP90[$i] vmin vmax _ < <(stats_ms <"$WORK/vdcfs-$i.times")
  read -r LMED[$i] LP90[$i] lmin lmax _ < <(stats_ms <"$WORK/limit-$i.times")
  VMIN[$i]=$vmin; VMAX[$i]=$vmax; LMIN[$i]=$lmin; LMAX[$i]=$lmax
done
row() { printf '%-8s %10s %10s %16s %10s %10s %16s %10s %8s\n' "$@"; }
cat <<EOF

vdcfs snapshot latency benchmark — $(date -u +%Y-%m-%dT%H:%MZ)
$(machine_note)
array: tgtd on $TGT_PORTAL, LUN backing files on a loop-mounted XFS (reflink=1), sparse, 64 data chunks each
$REPEAT timed snapshots per size and way (after $WARMUP warm-up), interleaved; times in ms

EOF
row "LUN" "vdcfs med" "vdcfs p90" "vdcfs min..max" "limit med" "limit p90" "limit min..max" "vdcfs-lim" "/limit"
row "--------" "----------" "----------" "----------------" "----------" "----------" "----------------" "----------" "--------"
for i in 0 1 2; do
  row "${LABELS[$i]}" "${VMED[$i]}" "${VP90[$i]}" "${VMIN[$i]}..${VMAX[$i]}" \
    "${LMED[$i]}" "${LP90[$i]}" "${LMIN[$i]}..${LMAX[$i]}" \
    "$(awk -v a="${VMED[$i]}" -v b="${LMED[$i]}" 'BEGIN { printf "%.1f", a - b }')" \
    "$(ratio "${VMED[$i]}" "${LMED[$i]}")"
done
cat <<EOF

vdcfs 16GiB/64MiB median = $(ratio "${VMED[2]}" "${VMED[0]}") (target <= 1.2)
vdcfs 1GiB/64MiB median  = $(ratio "${VMED[1]}" "${VMED[0]}")
limit 16GiB/64MiB median = $(ratio "${LMED[2]}" "${LMED[0]}")

notes:
- vdcfs: wall time of mkdir vms/<vm>/snapshots/sN (consistency "$CONSISTENCY");
  each checked (exit status, info.json: one disk, a snapshot LUN, cow true),
  then rmdir'd untimed.  $LEFT snapshot LUNs left on the array at the end;
  every VM running.  vdcfs used $VDCFS_CPU_S s of CPU since mounting; its log
  has $ERRS lines with error/warn.
- limit: cp --reflink=always$([ "$LIMIT_FSYNC" = 0 ] || echo " + sync FILE") + tgtadm --op new (LUN $LIMIT_LUN) + tgtadm
  --op update --params readonly=1, each a process; deleted untimed.
EOF
