#!/usr/bin/env bash
# stream.sh — streaming a snapshot image (issue 5): vdcfs against the peer
# (libiscsi reading the snapshot LUN directly: qemu-img convert from an
# iscsi:// URL, and iscsi-perf) and the limit (the snapshot's backing file
# read directly), side by side in one run, with ratios.
#
#   sudo bench/stream.sh                 # SIZE=1G, RUNS=3, cold and warm
#   sudo SIZE=4G CACHES=cold bench/stream.sh
#
# What it sets up: a loop-mounted XFS with reflink (a sparse image file);
# on it one LUN backing file of SIZE, alternately CHUNK of random data and
# CHUNK of hole (data first: half of it data); a private tgtd exporting it
# (thin provisioned, so GET LBA STATUS reports the holes) on a loopback
# portal; a private libvirtd (test driver) with one running VM whose disk is
# that LUN; vdcfs mounted with that host and array; one snapshot taken
# through the mount (mkdir vms/stream-1/snapshots/s1), whose LUN number is
# read from its info.json (.disks[0].snapshot_lun) and whose backing file is
# the one file in BACKING/.vdcfs-snapshots/.
#
# What it measures, RUNS times each, interleaved, per cache mode:
#   limit  cat BACKING_FILE >/dev/null; cp --sparse=always BACKING_FILE OUT
#   peer   qemu-img convert -O raw iscsi://PORTAL/IQN/SNAPLUN OUT (libiscsi,
#          block status = GET LBA STATUS, so it skips the holes);
#          iscsi-perf -m 32 -b BLOCKS -t PERF_SECONDS on the same URL
#          (sequential READ(16)s over the whole LUN, holes included: raw
#          libiscsi throughput) — if installed (libiscsi-bin)
#   vdcfs  cat IMAGE >/dev/null; cp --sparse=always IMAGE OUT;
#          qemu-img convert -O raw IMAGE OUT — IMAGE being
#          vms/stream-1/snapshots/s1/disks/vda.img through the mount
#          (iscsi-perf runs in the warm state only: it wraps around the LUN
#          for PERF_SECONDS, so after its first pass it reads what tgtd has
#          cached whatever was dropped before)
# Cache modes (CACHES): "cold" drops the kernel caches before every run
# (sync; echo 3 > /proc/sys/vm/drop_caches), so every run reads the disk
# under the XFS image; "warm" reads the backing file once first and keeps
# it cached, so what is measured is the software path (tgtd, iSCSI, FUSE).
# In both, the FUSE image's own pages are evicted before every run
# (posix_fadvise DONTNEED, checked with fincore): vdcfs has no open
# handler, so the kernel opens its files as if with keep_cache and a
# second read of an image would come from the page cache, not from vdcfs.
# OUT is on a tmpfs of our own (OUT_DIR to choose another place); every
# copy is compared with cmp to the backing file and the run aborts on a
# mismatch.  MB/s are decimal (10^6 bytes) of the image's size (holes
# count: it is the size a reader has to cover).
#
# Prints per way and mode the median seconds and MB/s, and the ratios
# vdcfs/peer for the same tool (qemu-img convert: target >= 0.8), vdcfs
# cat / iscsi-perf, vdcfs cp / peer qemu-img, and vdcfs/limit.
#
# Environment (all optional):
#   SIZE=1G          the LUN (truncate's syntax)
#   CHUNK=64M        data / hole alternation (first chunk data)
#   RUNS=3           timed runs per way and cache mode (median reported)
#   CACHES="cold warm"
#   PERF_SECONDS=5   iscsi-perf's run time (its -t)
#   PERF_BLOCKS=1024 iscsi-perf's -b (blocks per READ; 1024 x 512 = 512 KiB,
#                    the command size vdcfs's reader uses), -m 32 in flight
#   OUT_DIR=...      where copies go (default: a tmpfs mounted here)
#   REFRESH=30       vdcfs refresh_seconds
#   XFS_SIZE=64G     the sparse XFS image (only written blocks take space)
#   VDCFS=path       binary (default: build-bench/vdcfs, an optimised build
#                    made here if missing, else build-dev/vdcfs)
#   KEEP=1           keep the work directory (/var/tmp/vdcfs-stream.*)
#   HOLD=1           before measuring, print the set-up (mount, image, URL)
#                    and wait until the file $WORK/hold is removed (to look
#                    at it by hand: strace, perf); then go on
#
# Needs root (tgtd, a loop mount, a tmpfs, FUSE, drop_caches, libvirtd) and
# the Debian packages tgt, xfsprogs, libvirt-daemon, libvirt-clients, fuse3,
# jq, python3, qemu-utils, qemu-block-extra (libiscsi-bin for iscsi-perf).
# Everything it starts (vdcfs and its mount, tgtd and its control socket,
# libvirtd, the loop mount, the tmpfs) is torn down on exit, Ctrl-C
# included.
set -euo pipefail

BENCH=stream
source "$(dirname "${BASH_SOURCE[0]}")/array_lib.sh"
need_tools qemu-img fincore numfmt

SIZE=${SIZE:-1G}
CHUNK=${CHUNK:-64M}
RUNS=${RUNS:-3}
CACHES=${CACHES:-cold warm}
PERF_SECONDS=${PERF_SECONDS:-5}
PERF_BLOCKS=${PERF_BLOCKS:-1024}
XFS_SIZE=${XFS_SIZE:-64G}
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] || die "RUNS must be a number >= 1"
for c in $CACHES; do [ "$c" = cold ] || [ "$c" = warm ] || die "CACHES: cold and/or warm, not $c"; done
HAVE_PERF=0
command -v iscsi-perf >/dev/null 2>&1 && HAVE_PERF=1 || note "no iscsi-perf (package libiscsi-bin): that row is left out"
qemu-img --help 2>/dev/null | grep -qw iscsi ||
  note "WARNING: qemu-img does not list the iscsi driver (package qemu-block-extra)"

# --- set-up (not timed) -------------------------------------------------

start_libvirtd
reflink_fs "$XFS_SIZE"
BACKING=$XFS_DIR/array1
mkdir -p "$BACKING"
LUNFILE=$BACKING/lun1.img
truncate -s "$SIZE" "$LUNFILE"
BYTES=$(stat -c %s "$LUNFILE")
CHUNK_BYTES=$(numfmt --from=iec "$CHUNK")
[ $((CHUNK_BYTES % 1048576)) -eq 0 ] || die "CHUNK must be a multiple of 1 MiB"
note "writing random data into every other $CHUNK of the $SIZE LUN"
for ((off = 0; off < BYTES; off += 2 * CHUNK_BYTES)); do
  n=$(((BYTES - off) < CHUNK_BYTES ? (BYTES - off) : CHUNK_BYTES))
  dd if=/dev/urandom of="$LUNFILE" bs=1M count=$((n / 1048576)) seek=$((off / 1048576)) \
    conv=notrunc status=none iflag=fullblock
done
sync "$LUNFILE"
DATA_MIB=$(du -m "$LUNFILE" | cut -f1)

start_tgtd
add_lun 1 "$LUNFILE"
define_vm stream-1 1
mount_vdcfs "$BACKING"
wait_vm stream-1

SNAP=$MNT/vms/stream-1/snapshots/s1
mkdir "$SNAP" || die "mkdir $SNAP failed: $(jq -c .snapshots "$MNT/vms/stream-1/status.json" 2>&1)"
SNAP_LUN=$(jq -r '.disks[0].snapshot_lun' "$SNAP/info.json")
[[ "$SNAP_LUN" =~ ^[0-9]+$ ]] || die "no snapshot LUN in $SNAP/info.json: $(cat "$SNAP/info.json")"
IMAGE=$SNAP/disks/vda.img
shopt -s nullglob
snapfiles=("$BACKING"/.vdcfs-snapshots/*)
shopt -u nullglob
[ ${#snapfiles[@]} -eq 1 ] || die "expected one file in $BACKING/.vdcfs-snapshots, found ${#snapfiles[@]}"
SNAPFILE=${snapfiles[0]}
$TGTADM --mode target --op show | grep -q "Backing store path: $SNAPFILE" ||
  die "tgtadm does not show $SNAPFILE as a LUN"
URL="iscsi://$TGT_PORTAL/$TGT_IQN/$SNAP_LUN"
[ "$(stat -c %s "$IMAGE")" -eq "$BYTES" ] || die "the image's size $(stat -c %s "$IMAGE") is not the LUN's $BYTES"
note "snapshot s1: LUN $SNAP_LUN, backing file $SNAPFILE, image $IMAGE ($SIZE, $DATA_MIB MiB data)"

# Where the copies go: a tmpfs of our own, as big as the image, so that
# even a copy that writes its holes out fits.
if [ -n "${OUT_DIR:-}" ]; then
  OUT=$OUT_DIR/vdcfs-stream-out.$$
  mkdir -p "$OUT"
  OUT_NOTE="$OUT_DIR ($(findmnt -n -o FSTYPE -T "$OUT_DIR"))"
else
  OUT=$WORK/out
  mkdir -p "$OUT"
  mount -t tmpfs -o size=$((BYTES / 1048576 + 256))m vdcfs-stream-out "$OUT" || die "cannot mount a tmpfs on $OUT"
  EXTRA_MOUNTS+=("$OUT")
  OUT_NOTE="tmpfs"
fi
cleanup_out() { rm -f "$OUT/copy"; }

# Untimed: the image through the mount is the backing file.
cmp "$IMAGE" "$SNAPFILE" || die "the image read through the mount differs from the snapshot's backing file"

if [ "${HOLD:-0}" = 1 ]; then
  touch "$WORK/hold"
  note "HOLD: vdcfs pid $VDCFS_PID, tgtd pid $TGTD_PID; IMAGE=$IMAGE SNAPFILE=$SNAPFILE URL=$URL OUT=$OUT"
  note "HOLD: rm $WORK/hold to go on"
  while [ -e "$WORK/hold" ]; do sleep 1; done
fi

# --- the ways -----------------------------------------------------------

# Each prints nothing; the caller times it.  The copies are checked after.
way_limit_cat() { cat "$SNAPFILE" >/dev/null; }
way_limit_cp() { cp --sparse=always "$SNAPFILE" "$OUT/copy"; }
way_peer_qemu() { qemu-img convert -O raw "$URL" "$OUT/copy"; }
way_vdcfs_cat() { cat "$IMAGE" >/dev/null; }
way_vdcfs_cp() { cp --sparse=always "$IMAGE" "$OUT/copy"; }
way_vdcfs_qemu() { qemu-img convert -O raw "$IMAGE" "$OUT/copy"; }
WAYS=(limit_cat limit_cp peer_qemu vdcfs_cat vdcfs_cp vdcfs_qemu)
declare -A LABEL=(
  [limit_cat]="limit: cat backing file"
  [limit_cp]="limit: cp --sparse=always backing file"
  [peer_qemu]="peer: qemu-img convert iscsi://"
  [peer_perf]="peer: iscsi-perf -m 32 -b $PERF_BLOCKS (${PERF_SECONDS}s)"
  [vdcfs_cat]="vdcfs: cat image"
  [vdcfs_cp]="vdcfs: cp --sparse=always image"
  [vdcfs_qemu]="vdcfs: qemu-img convert image"
)
declare -A COPY_MIB

# evict_image: the image's pages out of the kernel's page cache (vdcfs's
# files are kept cached across opens); dies if some stay.
evict_image() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$IMAGE" || die "cannot evict $IMAGE from the page cache"
  local pages
  pages=$(fincore -n -b -o PAGES "$IMAGE" | tr -d ' ')
  [ "$pages" = 0 ] || die "$pages pages of $IMAGE still cached after posix_fadvise DONTNEED"
}

# run_way WAY MODE: one timed run; appends its seconds to a file; checks
# the copy, if the way makes one.
run_way() {
  local way=$1 mode=$2 t0 t1
  cleanup_out
  [ "$mode" = cold ] && drop_caches
  evict_image
  t0=$(now)
  "way_$way" || die "$way failed"
  t1=$(now)
  elapsed "$t0" "$t1" >>"$WORK/$way-$mode.times"
  echo >>"$WORK/$way-$mode.times"
  if [ -e "$OUT/copy" ]; then
    cmp "$OUT/copy" "$SNAPFILE" || die "$way: the copy differs from the snapshot's backing file"
    COPY_MIB[$way-$mode]=$(du -m "$OUT/copy" | cut -f1)
    cleanup_out
  fi
}

# iscsi-perf runs for PERF_SECONDS (backing file cached first) and prints
# its average; appends MB/s (decimal; it reports MiB/s).
run_perf() {
  local out mib
  cat "$SNAPFILE" >/dev/null
  out=$(timeout $((PERF_SECONDS + 30)) iscsi-perf -m 32 -b "$PERF_BLOCKS" -t "$PERF_SECONDS" "$URL" 2>&1) ||
    die "iscsi-perf failed: $(tail -c 300 <<<"$out")"
  mib=$(tr '\r' '\n' <<<"$out" | sed -n 's/^iops average [0-9]* (\([0-9]*\) MB\/s).*/\1/p' | tail -n1)
  [ -n "$mib" ] || die "cannot read iscsi-perf's average: $(tail -c 300 <<<"$out")"
  awk -v m="$mib" 'BEGIN { printf "%.1f\n", m * 1048576 / 1e6 }' >>"$WORK/peer_perf.mbs"
}

for mode in $CACHES; do
  note "$mode: $RUNS runs of each way, interleaved"
  if [ "$mode" = warm ]; then cat "$SNAPFILE" >/dev/null; fi
  for ((r = 1; r <= RUNS; r++)); do
    for way in "${WAYS[@]}"; do run_way "$way" "$mode"; done
    printf '.' >&2
  done
  echo >&2
done
if [ $HAVE_PERF = 1 ]; then
  note "iscsi-perf: $RUNS runs of ${PERF_SECONDS}s"
  for ((r = 1; r <= RUNS; r++)); do run_perf; done
fi
# The mount still answers and the data did not change under it.
cmp "$IMAGE" "$SNAPFILE" || die "at the end, the image differs from the snapshot's backing file"
VDCFS_CPU_S=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$VDCFS_PID/stat")
ERRS=$(grep -ci 'error\|warn' "$WORK/vdcfs.log" || true)

# --- the table ----------------------------------------------------------

med_s() { grep . "$WORK/$1-$2.times" | median; }
mbs() { awk -v b="$BYTES" -v t="$1" 'BEGIN { if (t + 0 == 0) print "-"; else printf "%.0f", b / 1e6 / t }'; }
declare -A S MBS
for mode in $CACHES; do
  for way in "${WAYS[@]}"; do
    S[$way-$mode]=$(med_s "$way" "$mode")
    MBS[$way-$mode]=$(mbs "${S[$way-$mode]}")
  done
done
[ $HAVE_PERF = 1 ] && MBS[peer_perf]=$(median <"$WORK/peer_perf.mbs" | awk '{ printf "%.0f", $1 }')

row() { printf '%-46s %-5s %9s %8s %10s\n' "$@"; }
cat <<EOF

vdcfs snapshot streaming benchmark — $(date -u +%Y-%m-%dT%H:%MZ)
$(machine_note)
image: $SIZE ($BYTES bytes), $DATA_MIB MiB of random data in $CHUNK chunks alternating with $CHUNK holes;
  snapshot LUN $SNAP_LUN of tgtd on $TGT_PORTAL, backing file on a loop-mounted XFS (reflink=1)
$RUNS runs per way and cache mode, interleaved, median; copies to $OUT_NOTE, each cmp'd equal
"cold": sync + drop_caches before every run; "warm": backing file cached, only the image's FUSE pages evicted

EOF
row "way" "cache" "seconds" "MB/s" "copy MiB"
row "----------------------------------------------" "-----" "---------" "--------" "----------"
for mode in $CACHES; do
  for way in "${WAYS[@]}"; do
    row "${LABEL[$way]}" "$mode" "$(awk -v t="${S[$way-$mode]}" 'BEGIN { printf "%.3f", t }')" \
      "${MBS[$way-$mode]}" "${COPY_MIB[$way-$mode]:--}"
  done
done
[ $HAVE_PERF = 1 ] && row "${LABEL[peer_perf]}" "warm" "-" "${MBS[peer_perf]}" "-"
echo
for mode in $CACHES; do
  echo "$mode:"
  echo "  vdcfs/peer qemu-img convert          = $(ratio "${MBS[vdcfs_qemu-$mode]}" "${MBS[peer_qemu-$mode]}") (target >= 0.8)"
  echo "  vdcfs cp --sparse / peer qemu-img     = $(ratio "${MBS[vdcfs_cp-$mode]}" "${MBS[peer_qemu-$mode]}")"
  [ $HAVE_PERF = 1 ] && [ "$mode" = warm ] &&
    echo "  vdcfs cat / peer iscsi-perf           = $(ratio "${MBS[vdcfs_cat-$mode]}" "${MBS[peer_perf]}")"
  echo "  vdcfs/limit cat                       = $(ratio "${MBS[vdcfs_cat-$mode]}" "${MBS[limit_cat-$mode]}")"
  echo "  vdcfs/limit cp --sparse=always        = $(ratio "${MBS[vdcfs_cp-$mode]}" "${MBS[limit_cp-$mode]}")"
  echo "  peer qemu-img / limit cp              = $(ratio "${MBS[peer_qemu-$mode]}" "${MBS[limit_cp-$mode]}")"
done
cat <<EOF

notes:
- copy MiB: what the copy allocates (du -m); ~$DATA_MIB when the holes were skipped or
  written as holes, ~$((BYTES / 1048576)) when they were written out.
- iscsi-perf reads the whole LUN, holes included, wrapping around for
  ${PERF_SECONDS}s, with the backing file cached (warm); median of $RUNS runs.
- before every run the image's pages were evicted from the page cache and
  checked gone (fincore): each run reads through vdcfs.
- vdcfs used $VDCFS_CPU_S s of CPU since mounting; its log has $ERRS lines with error/warn.
EOF
