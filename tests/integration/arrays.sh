#!/usr/bin/env bash
# Storage arrays in the tree (issue 5, first part): arrays/<array>/ and
# its LUNs as a real tgtd exports them, read over iSCSI, checked against
# libiscsi's own tools and tgtadm; CHAP secrets never readable; an array
# that dies is marked down and the rest of the tree does not notice.
source "$(dirname "$0")/lib.sh"

start_libvirtd A || { fail "libvirtd"; finish; }
keep_default_open A
URI_A="test+tcp://127.0.0.1:$LV_PORT_A/default"
start_tgtd a1 "$T/array1" 64M 128M 32M || { fail "tgtd"; finish; }
start_tgtd a2 "$T/array2" 16M || { fail "tgtd 2"; finish; }
# Some data in LUN 1 at 4 MiB: "allocated" must count it.
dd if=/dev/urandom of="$T/array1/lun1.img" bs=1M count=2 seek=4 conv=notrunc status=none
# array2 wants CHAP.
tgtadm -C "$TGT_CTL_a2" --lld iscsi --mode account --op new --user vdcfs-u --password 'S3cret-chap-pw' &&
  tgtadm -C "$TGT_CTL_a2" --lld iscsi --mode account --op bind --tid 1 --user vdcfs-u ||
  fail "CHAP account"

# A VM whose disk is LUN 2 of array1 (as libvirt names an iSCSI disk).
cat >"$T/db-1.xml" <<XML
<domain type='test'>
  <name>db-1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='network' device='disk'>
      <source protocol='iscsi' name='$TGT_IQN_a1/2'><host name='127.0.0.1' port='${TGT_PORTAL_a1##*:}'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
XML
virsh -q -c "$URI_A" define "$T/db-1.xml" >/dev/null && virsh -q -c "$URI_A" start db-1 >/dev/null ||
  fail "define db-1"

cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 2,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}],
 "arrays": [
  {"name": "array1", "driver": "tgt", "portal": "$TGT_PORTAL_a1", "target": "$TGT_IQN_a1",
   "backing_dir": "$T/array1", "control_port": $TGT_CTL_a1},
  {"name": "array2", "driver": "tgt", "portal": "$TGT_PORTAL_a2", "target": "$TGT_IQN_a2",
   "backing_dir": "$T/array2", "control_port": $TGT_CTL_a2,
   "chap": {"user": "vdcfs-u", "password": "S3cret-chap-pw"}}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }
A1=$M/arrays/array1

check_eq "arrays/" "array1 array2" "$(ls "$M/arrays" | xargs)"
check_eq "the disk LUNs, not the controller" "1 2 3" "$(ls "$A1/luns" | xargs)"
check "array1 is connected" jqt '.connected == true and .error == null and .luns == 3' "$A1/info.json"
check "the array's space" jqt '.capacity > 0 and .allocation >= 2097152' "$A1/info.json"
check_eq "info.json names the array" "array1 tgt $TGT_PORTAL_a1 $TGT_IQN_a1" \
  "$(jq -r '"\(.name) \(.driver) \(.portal) \(.target)"' "$A1/info.json")"

# --- LUN facts, against libiscsi's tools reading the same LUN -----------------
L1=$A1/luns/1/info.json
url="iscsi://$TGT_PORTAL_a1/$TGT_IQN_a1/1"
check_eq "capacity = READ CAPACITY(16)" "$(iscsi-readcapacity16 "$url" | awk -F: '/Total size/ {print $2}')" \
  "$(jq .capacity "$L1")"
check_eq "capacity = the backing file" "$(stat -c %s "$T/array1/lun1.img")" "$(jq .capacity "$L1")"
check_eq "LUN 2 is 128 MiB" 134217728 "$(jq .capacity "$A1/luns/2/info.json")"
check_eq "block size" "$(iscsi-readcapacity16 "$url" | awk -F: '/LOGICAL BLOCK LENGTH/ {print $2}')" \
  "$(jq .block_size "$L1")"
inq=$(iscsi-inq "$url")
check_eq "vendor = INQUIRY" "$(awk -F: '/^Vendor/ {print $2}' <<<"$inq" | xargs)" "$(jq -r .vendor "$L1")"
check_eq "product = INQUIRY" "$(awk -F: '/^Product/ {print $2}' <<<"$inq" | xargs)" "$(jq -r .product "$L1")"
check_eq "revision = INQUIRY" "$(awk -F: '/^Revision/ {print $2}' <<<"$inq" | xargs)" "$(jq -r .revision "$L1")"
check "a WWN from VPD 0x83" jqt '.wwn | test("^(naa|eui|t10)\\.")' "$L1"
check "thin provisioned (LBPME)" jqt '.thin_provisioned == true' "$L1"
check "media" jqt '.media | IN("ssd", "hdd", "unknown")' "$L1"
check "allocated: the 2 MiB written, not the whole LUN" \
  jqt '.allocated >= 2097152 and .allocated < .capacity' "$L1"
check "an untouched LUN has little allocated" jqt '.allocated < 1048576' "$A1/luns/3/info.json"
check_eq "used_by: the VM on LUN 2" '["db-1"]' "$(jq -c .used_by "$A1/luns/2/info.json")"
check_eq "used_by: nobody on LUN 1" '[]' "$(jq -c .used_by "$L1")"
check_eq "a LUN directory" "info.json snapshots" "$(ls "$A1/luns/1" | xargs)"
check_eq "no snapshots yet" "" "$(ls "$A1/luns/1/snapshots" | xargs)"
check "files are read-only" sh -c "! touch '$L1' 2>/dev/null"

# --- CHAP: works, and the secret is nowhere in the mount ---------------------
check "array2 logs in with CHAP" wait_until 20 jqt '.connected == true and .luns == 1' \
  "$M/arrays/array2/info.json"
check "the CHAP password is not readable anywhere in the mount" \
  sh -c "! grep -r -a -q 'S3cret-chap-pw' '$M/arrays' '$M/hosts' '$M/vms' '$M/events' 2>/dev/null"
check "... nor the config's CHAP user either" sh -c "! grep -r -a -q 'vdcfs-u' '$M/arrays' 2>/dev/null"

# --- new LUNs appear --------------------------------------------------------
truncate -s 8M "$T/array1/lun4.img"
tgtadm -C "$TGT_CTL_a1" --lld iscsi --mode logicalunit --op new --tid 1 --lun 4 -b "$T/array1/lun4.img"
check "a new LUN appears" wait_until 20 sh -c "[ -f '$A1/luns/4/info.json' ]"
check_eq "... with its size" 8388608 "$(jq .capacity "$A1/luns/4/info.json")"
tgtadm -C "$TGT_CTL_a1" --lld iscsi --mode logicalunit --op delete --tid 1 --lun 4
check "a removed LUN goes" wait_until 20 sh -c "[ ! -e '$A1/luns/4' ]"

# --- the array dies ---------------------------------------------------------
kill -9 "$TGT_PID_a1"
check "a dead array says so" wait_until 30 jqt '.connected == false and (.error | length > 0)' "$A1/info.json"
check "... in /events" grep -q '"kind":"array","name":"array1".*"event":"disconnected"' "$M/events"
check "its LUNs stay as last seen" timeout 10 sh -c "[ \"\$(ls '$A1/luns' | xargs)\" = '1 2 3' ]"
check "the rest of the tree does not notice" timeout 10 sh -c "cat '$M/vms/db-1/state' >/dev/null && ls -R '$M' >/dev/null"
check "array2 is still connected" jqt '.connected == true' "$M/arrays/array2/info.json"

finish
