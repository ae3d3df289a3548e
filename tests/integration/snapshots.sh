#!/usr/bin/env bash
# VM snapshots (issue 5): mkdir in vms/<vm>/snapshots/ quiesces the VM,
# snapshots every LUN behind its disks on a real tgtd array, records it
# and resumes the VM; the images read back over iSCSI equal the LUNs at
# that instant, sparse; revert, rmdir, libvirt's own snapshots for VMs
# not on arrays, failures that leave nothing behind, a restart.
source "$(dirname "$0")/lib.sh"

start_libvirtd A || { fail "libvirtd"; finish; }
keep_default_open A
URI_A="test+tcp://127.0.0.1:$LV_PORT_A/default"
reflink_dir "$T/xfs" 512M
start_tgtd a1 "$T/xfs/array1" 64M 32M 16M 16M || { fail "tgtd"; finish; }
B1=$T/xfs/array1
PORT_A1=${TGT_PORTAL_a1##*:}
# Data at 4 MiB of LUN 1 and at 1 MiB of LUN 2; the rest is holes.
dd if=/dev/urandom of="$B1/lun1.img" bs=1M count=2 seek=4 conv=notrunc status=none
dd if=/dev/urandom of="$B1/lun2.img" bs=1M count=1 seek=1 conv=notrunc status=none

iscsi_disk() { # TARGET LUN
  echo "<disk type='network' device='disk'><source protocol='iscsi' name='$TGT_IQN_a1/$2'><host name='127.0.0.1' port='$PORT_A1'/></source><target dev='$1' bus='virtio'/></disk>"
}
define_vm() { # NAME DISKS-XML
  cat >"$T/$1.xml" <<XML
<domain type='test'><name>$1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os><devices>$2</devices></domain>
XML
  virsh -q -c "$URI_A" define "$T/$1.xml" >/dev/null && virsh -q -c "$URI_A" start "$1" >/dev/null
}
define_vm db-1 "$(iscsi_disk vda 1)$(iscsi_disk vdb 2)" || fail "define db-1"
define_vm web-1 "<disk type='file' device='disk'><source file='/var/lib/web-1.img'/><target dev='vda' bus='virtio'/></disk>" ||
  fail "define web-1"
define_vm mixed-1 "$(iscsi_disk vda 3)<disk type='file' device='disk'><source file='/var/lib/m.img'/><target dev='vdb' bus='virtio'/></disk>" ||
  fail "define mixed-1"

cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 2, "snapshot_timeout_seconds": 30,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}],
 "arrays": [{"name": "array1", "driver": "tgt", "portal": "$TGT_PORTAL_a1", "target": "$TGT_IQN_a1",
             "backing_dir": "$B1", "control_port": $TGT_CTL_a1}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }
S=$M/vms/db-1/snapshots
tgt_show() { tgtadm -C "$TGT_CTL_a1" --lld iscsi --mode target --op show; }
snapshot_luns() { tgt_show | grep -c 'Backing store path: .*\.vdcfs-snapshots/' || true; }
domstate() { virsh -c "$URI_A" domstate "$1" | head -n1; }

check "db-1 has an empty snapshots/" sh -c "[ -d '$S' ] && [ -z \"\$(ls '$S')\" ]"
check "the array is connected" wait_until 20 jqt '.connected' "$M/arrays/array1/info.json"

# --- take one ----------------------------------------------------------------
cp --sparse=always "$B1/lun1.img" "$T/lun1.then"
cp --sparse=always "$B1/lun2.img" "$T/lun2.then"
check "mkdir takes a snapshot" mkdir "$S/pre-upgrade"
check "the image reads as soon as mkdir returns" cmp "$T/lun1.then" "$S/pre-upgrade/disks/vda.img"
check_eq "tgtadm lists a snapshot LUN per disk" 2 "$(snapshot_luns)"
I=$S/pre-upgrade/info.json
check "info.json: name, mechanism, consistency (the guest agent froze it)" \
  jqt '.name == "pre-upgrade" and .mechanism == "array" and .consistency == "frozen" and .parent == null' "$I"
check "info.json: both disks, with their array, source and snapshot LUNs" \
  jqt '[.disks[] | select(.array == "array1" and (.snapshot_lun | type) == "number" and .present)] | length == 2' "$I"
check_eq "info.json: vda is LUN 1, vdb LUN 2" "vda:1 vdb:2" \
  "$(jq -r '[.disks[] | "\(.target):\(.source_lun)"] | sort | join(" ")' "$I")"
[ "$REFLINK" = 1 ] && check "copy-on-write on XFS" jqt '[.disks[].cow] | all' "$I"
check "domain.xml: the VM's definition" grep -q '<name>db-1</name>' "$S/pre-upgrade/domain.xml"
check_eq "disks/" "vda.img vdb.img" "$(ls "$S/pre-upgrade/disks" | xargs)"
check_eq "the image's size is the LUN's" "$(stat -c %s "$B1/lun1.img")" "$(stat -c %s "$S/pre-upgrade/disks/vda.img")"
check_eq "the VM runs again" running "$(domstate db-1)"
check "the image is the LUN at the snapshot's instant" cmp "$T/lun1.then" "$S/pre-upgrade/disks/vda.img"
check "... for every disk" cmp "$T/lun2.then" "$S/pre-upgrade/disks/vdb.img"
dd if=/dev/urandom of="$B1/lun1.img" bs=1M count=1 seek=4 conv=notrunc status=none
check "data written to the LUN afterwards does not change the image" \
  cmp "$T/lun1.then" "$S/pre-upgrade/disks/vda.img"
check "the LUN itself did change" sh -c "! cmp -s '$T/lun1.then' '$B1/lun1.img'"
check "the images are read-only" sh -c "! echo x 2>/dev/null >'$S/pre-upgrade/disks/vda.img'"
check "events: snapshot-created" grep -q '"name":"db-1".*"event":"snapshot-created".*"snapshot":"pre-upgrade"' "$M/events"
check "status.json counts it" jqt '.snapshots.count == 1 and .snapshots.last_operation.ok' "$M/vms/db-1/status.json"
check "the LUN's snapshot is under arrays/ too" \
  sh -c "ls '$M/arrays/array1/luns/1/snapshots' | grep -q vdcfs-"

# --- sparse: the holes are skipped ------------------------------------------------
check_eq "SEEK_DATA finds the data at 4 MiB" 4194304 \
  "$(python3 -c 'import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,0,os.SEEK_DATA))' "$S/pre-upgrade/disks/vda.img")"
check_eq "SEEK_HOLE after it" 6291456 \
  "$(python3 -c 'import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,4194304,os.SEEK_HOLE))' "$S/pre-upgrade/disks/vda.img")"
check "cp --sparse=always copies it" cp --sparse=always "$S/pre-upgrade/disks/vda.img" "$T/vda.copy"
check "... equal" cmp "$T/lun1.then" "$T/vda.copy"
check "... sparse (less than 8 MiB of a 64 MiB image allocated)" \
  sh -c "[ \$(du -k '$T/vda.copy' | cut -f1) -lt 8192 ]"
check "tar -S archives it sparse" sh -c "tar -C '$S/pre-upgrade/disks' -cSf '$T/vda.tar' vda.img && [ \$(stat -c %s '$T/vda.tar') -lt 8388608 ]"
check "qemu-img convert reads it" qemu-img convert -O raw "$S/pre-upgrade/disks/vda.img" "$T/vda.qemu"
check "... equal" cmp "$T/lun1.then" "$T/vda.qemu"

# --- a second one, and the bad requests --------------------------------------------
check "a second snapshot" mkdir "$S/second"
check "its parent is the first" jqt '.parent == "pre-upgrade"' "$S/second/info.json"
check "the same name again: EEXIST" sh -c "mkdir '$S/second' 2>&1 | grep -q 'File exists'"
check "a name that is not UTF-8: EINVAL" sh -c "mkdir \"$S/\$(printf 'bad\\377')\" 2>&1 | grep -q 'Invalid argument'"
check "rmdir of a VM with snapshots: ENOTEMPTY" sh -c "rmdir '$M/vms/db-1' 2>&1 | grep -q 'not empty'"
check "rm -r cannot delete snapshots" sh -c "! rm -rf '$S/second' 2>/dev/null; [ -d '$S/second' ]"

# --- revert -------------------------------------------------------------------------
check "revert to an unknown snapshot: EINVAL" sh -c "! echo nope 2>/dev/null >'$M/vms/db-1/revert'"
check "... said in status.json" jqt '.snapshots.last_operation.ok == false and (.snapshots.last_operation.message | test("nope"))' \
  "$M/vms/db-1/status.json"
check "echo pre-upgrade > revert" sh -c "echo pre-upgrade >'$M/vms/db-1/revert'"
check "the LUN has its old content again" cmp "$T/lun1.then" "$B1/lun1.img"
check "... every LUN" cmp "$T/lun2.then" "$B1/lun2.img"
check_eq "the VM is back in its recorded state" running "$(domstate db-1)"
check "events: reverted" grep -q '"name":"db-1".*"event":"reverted"' "$M/events"

# --- rmdir -----------------------------------------------------------------------------
check "rmdir deletes a snapshot" rmdir "$S/second"
check_eq "... on the array" 2 "$(snapshot_luns)"
check_eq "... and from snapshots/" "pre-upgrade" "$(ls "$S" | xargs)"
check "rmdir of an unknown snapshot: ENOENT" sh -c "rmdir '$S/nope' 2>&1 | grep -q 'No such file'"

# --- LUN snapshots, under arrays/ ----------------------------------------------------------
LS=$M/arrays/array1/luns/3/snapshots
check "mkdir in a LUN's snapshots/ takes a LUN snapshot" mkdir "$LS/nightly"
check_eq "... tgtadm lists it" 3 "$(snapshot_luns)"
check "... a read-only snapshot LUN of LUN 3" jqt '.role == "snapshot" and .source_lun == 3' "$LS/nightly/info.json"
check "a name the array cannot take: EINVAL" sh -c "mkdir '$LS/bad name' 2>&1 | grep -q 'Invalid argument'"
check "a name kept for VM snapshots: EINVAL" sh -c "mkdir '$LS/vdcfs-x' 2>&1 | grep -q 'Invalid argument'"
vm_snap_id=$(jq -r '.disks[0].snapshot_id' "$I")
check "rmdir of a LUN snapshot that is part of a VM snapshot: EBUSY" \
  sh -c "rmdir '$M/arrays/array1/luns/1/snapshots/$vm_snap_id' 2>&1 | grep -q 'busy'"
check "... said in /events" grep -q '"event":"snapshot-delete-refused".*pre-upgrade' "$M/events"
check "rmdir deletes a LUN snapshot" rmdir "$LS/nightly"
check_eq "... on the array" 2 "$(snapshot_luns)"

# --- a paused VM: suspended, and it stays paused ------------------------------------------
virsh -q -c "$URI_A" suspend db-1 >/dev/null
check "snapshot of a paused VM" mkdir "$S/paused"
check "consistency: suspended" jqt '.consistency == "suspended" and .state == "paused"' "$S/paused/info.json"
check_eq "it stays paused" paused "$(domstate db-1)"
rmdir "$S/paused"
virsh -q -c "$URI_A" resume db-1 >/dev/null

# --- a VM whose disks are not on an array: libvirt's snapshots ------------------------
check "snapshot of web-1 (a file disk)" mkdir "$M/vms/web-1/snapshots/s1"
check "mechanism: libvirt" jqt '.mechanism == "libvirt" and .disks == []' "$M/vms/web-1/snapshots/s1/info.json"
check_eq "virsh sees it" 1 "$(virsh -q -c "$URI_A" snapshot-list web-1 --name | grep -c .)"
check_eq "web-1 runs" running "$(domstate web-1)"
check "rmdir deletes it in libvirt" sh -c "rmdir '$M/vms/web-1/snapshots/s1' && [ -z \"\$(virsh -q -c '$URI_A' snapshot-list web-1 --name | xargs)\" ]"

# --- refused: disks on an array and elsewhere ----------------------------------------------
check "mixed-1 (an array disk and a file disk): EIO" sh -c "! mkdir '$M/vms/mixed-1/snapshots/x' 2>/dev/null"
check "... no directory remains" sh -c "[ ! -e '$M/vms/mixed-1/snapshots/x' ]"
check "... the message in status.json" \
  jqt '.snapshots.last_operation.ok == false and (.snapshots.last_operation.message | test("vdb"))' \
  "$M/vms/mixed-1/status.json"
check "... and in /events" grep -q '"name":"mixed-1".*"event":"snapshot-failed"' "$M/events"
check_eq "... mixed-1 still runs" running "$(domstate mixed-1)"

# --- a VM with a spec: snapshot and revert, the reconciler keeps out of the way ----------------
insync() { jqt '.conditions[] | select(.type=="InSync") | .status=="True"' "$M/vms/$1/status.json"; }
mkdir "$M/vms/app-1"
echo '{"host": "alpha", "vcpus": 1, "memory_mib": 128, "state": "running",
 "disks": [{"target": "vda", "array": "array1", "lun": 4}]}' >"$M/vms/app-1/spec.json"
check "app-1 (a spec with a LUN disk) converges" wait_until 30 insync app-1
dd if=/dev/urandom of="$B1/lun4.img" bs=1M count=1 seek=2 conv=notrunc status=none
cp --sparse=always "$B1/lun4.img" "$T/lun4.then"
spec_before=$(cat "$M/vms/app-1/spec.json")
check "snapshot of a VM with a spec" mkdir "$M/vms/app-1/snapshots/s1"
check "... the image is the LUN then" cmp "$T/lun4.then" "$M/vms/app-1/snapshots/s1/disks/vda.img"
dd if=/dev/urandom of="$B1/lun4.img" bs=1M count=1 seek=2 conv=notrunc status=none
check "revert a VM with a spec" sh -c "echo s1 >'$M/vms/app-1/revert'"
check "... the LUN is back" cmp "$T/lun4.then" "$B1/lun4.img"
check_eq "... it runs" running "$(domstate app-1)"
check "... in sync with its spec" wait_until 30 insync app-1
check_eq "... the spec is untouched" "$spec_before" "$(cat "$M/vms/app-1/spec.json")"
check "... only one start after the revert (the reconciler kept out of the way)" sh -c \
  "[ \$(grep -c '\"name\":\"app-1\".*\"action\":\"start\"' '$M/events') -le 1 ]"
rmdir "$M/vms/app-1/snapshots/s1"

# --- a restart: the snapshots are still there, from the state dir and the array ----------
fusermount3 -u "$M"
wait_until 20 sh -c "! pgrep -f 'vdcfs.* $M\$' >/dev/null"
mount_vdcfs "$M" --config "$T/dc.json" || fail "remount"
check "after a restart the snapshot is there" wait_until 20 sh -c "[ -f '$S/pre-upgrade/info.json' ]"
check "... with its LUNs, from the array" wait_until 20 \
  jqt '[.disks[] | select(.present)] | length == 2' "$I"
check "... readable" cmp "$T/lun1.then" "$S/pre-upgrade/disks/vda.img"

# --- the daemon is killed in the middle of a snapshot ---------------------------------------
UUID=$(virsh -c "$URI_A" domuuid db-1 | head -n1)
mkdir "$LS/crashed" # stands for a LUN snapshot that a crash left, below
kill -STOP "$TGT_PID_a1"
mkdir "$S/killed" 2>/dev/null &
check "the snapshot's intent is recorded first" wait_until 20 test -f "$T/state/snapshots/$UUID/killed.json"
kill -9 "$(vdcfs_pid "$M")"
kill -CONT "$TGT_PID_a1"
fusermount3 -u "$M" 2>/dev/null || fusermount3 -u -z "$M"
# A crash while the VM was suspended for a snapshot (the record says so).
virsh -q -c "$URI_A" suspend db-1 >/dev/null
cat >"$T/state/snapshots/$UUID/half.json" <<JSON
{"name": "half", "vm": "db-1", "uuid": "$UUID", "host": "alpha", "pending": true,
 "may_have_quiesced": true, "libvirt_snapshot": null,
 "disks": [{"target": "vdc", "array": "array1", "source_lun": 3, "snapshot_id": "crashed"}]}
JSON
mount_vdcfs "$M" --config "$T/dc.json" || fail "remount after kill -9"
check "after the restart, what the crash left is cleaned up" wait_until 60 sh -c \
  "[ ! -e '$T/state/snapshots/$UUID/killed.json' ] && [ ! -e '$T/state/snapshots/$UUID/half.json' ]"
check "... no directory for either" sh -c "[ ! -e '$S/killed' ] && [ ! -e '$S/half' ]"
check_eq "... the array has only the finished snapshot's LUNs" 2 "$(snapshot_luns)"
check_eq "... the VM left suspended is resumed" running "$(domstate db-1)"
check "... said in /events" grep -q '"event":"snapshot-abandoned".*"snapshot":"half"' "$M/events"
check "... the finished snapshot is still there" cmp "$T/lun1.then" "$S/pre-upgrade/disks/vda.img"

# --- the array dies in the middle of a snapshot ----------------------------------------------
kill -STOP "$TGT_PID_a1"
mkdir "$S/doomed" 2>"$T/doomed.err" &
mk=$!
sleep 1
kill -9 "$TGT_PID_a1"
wait "$mk"
mk_rc=$?
check "mkdir fails when tgtd dies during the snapshot" [ "$mk_rc" -ne 0 ]
check "... with EIO" sh -c "grep -q 'Input/output error' '$T/doomed.err' || { cat '$T/doomed.err'; false; }"
check "... no snapshot directory" sh -c "[ ! -e '$S/doomed' ]"
check_eq "... the VM runs" running "$(domstate db-1)"
check "... no snapshot file of it left on the array" \
  sh -c "[ \$(ls '$B1/.vdcfs-snapshots' | wc -l) -eq 2 ]"
check "an array that is down: mkdir fails fast with EIO" wait_until 30 sh -c \
  "jq -e '.connected == false' '$M/arrays/array1/info.json' >/dev/null && ! timeout 10 mkdir '$S/down' 2>/dev/null"
check "... the message says why" jqt '.snapshots.last_operation.message | test("not connected")' \
  "$M/vms/db-1/status.json"
sync; echo 3 >/proc/sys/vm/drop_caches # the image's pages must come from the array
timeout 60 cat "$S/pre-upgrade/disks/vda.img" >/dev/null 2>"$T/read.err"
read_rc=$?
check "reading an image of a dead array fails, it does not hang" [ "$read_rc" -ne 0 ] && [ "$read_rc" -ne 124 ]
check "... with EIO" grep -q 'Input/output error' "$T/read.err"
check "... and the rest of the tree answers" sh -c "timeout 10 cat '$S/pre-upgrade/info.json' '$M/vms/db-1/state' >/dev/null"

finish
