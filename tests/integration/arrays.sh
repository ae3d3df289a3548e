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

# --- a spec disk on a LUN of a configured array -----------------------------
V=$M/vms
insync() { jqt '.conditions[] | select(.type=="InSync") | .status=="True"' "$V/$1/status.json"; }
spec_valid_msg() { jq -r '.conditions[] | select(.type=="SpecValid") | "\(.status) \(.message)"' "$V/$1/status.json"; }
# "type protocol name host port [auth user, secret type and usage]" of a domain's first disk
disk_of() {
  virsh -q -c "$URI_A" dumpxml "$1" | python3 -c 'import sys, xml.etree.ElementTree as E
d = E.parse(sys.stdin).find("devices/disk"); s = d.find("source"); h = s.find("host")
out = [d.get("type"), s.get("protocol"), s.get("name"), h.get("name"), h.get("port")]
a = s.find("auth")
if a is not None:
    out += [a.get("username"), a.find("secret").get("type"), a.find("secret").get("usage")]
print(" ".join(str(x) for x in out))'
}
# put_spec VM JSON: writes vms/VM/spec.json (open, write, close); prints
# "ok" or the errno the write or the close failed with.
put_spec() {
  python3 -c 'import sys, errno
try:
    f = open(sys.argv[1], "w"); f.write(sys.argv[2] + "\n"); f.close(); print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])' "$V/$1/spec.json" "$2"
}
# lun_spec ARRAY LUN [STATE]: a small spec with one disk on that LUN
lun_spec() {
  echo "{\"vcpus\":1,\"memory_mib\":128,\"state\":\"${3:-running}\",\"disks\":[{\"target\":\"vda\",\"array\":\"$1\",\"lun\":$2}]}"
}
check "mkdir vms/lun-vm" mkdir "$V/lun-vm"
check_eq "a spec with a LUN disk of array1 is taken" ok \
  "$(put_spec lun-vm '{"vcpus":1,"memory_mib":128,"state":"running","disks":[{"target":"vda","array":"array1","lun":1}]}')"
check "lun-vm becomes InSync" wait_until 30 insync lun-vm
check_eq "virsh: an iSCSI disk on array1's portal, IQN/LUN" \
  "network iscsi $TGT_IQN_a1/1 ${TGT_PORTAL_a1%:*} ${TGT_PORTAL_a1##*:}" "$(disk_of lun-vm)"
check_eq "virsh: it runs" running "$(virsh -c "$URI_A" domstate lun-vm | head -n1)"
check "LUN 1's used_by lists the VM" wait_until 20 jqt '.used_by | index("lun-vm") != null' "$L1"
check_eq "... and LUN 2's still only db-1" '["db-1"]' "$(jq -c .used_by "$A1/luns/2/info.json")"

# pointed elsewhere behind our back: put back
virsh -q -c "$URI_A" dumpxml --inactive lun-vm | sed "s|$TGT_IQN_a1/1|$TGT_IQN_a1/3|" >"$T/lun-vm.xml"
virsh -q -c "$URI_A" define "$T/lun-vm.xml" >/dev/null || fail "redefine lun-vm by hand"
check "a disk pointed at another LUN is put back" wait_until 30 sh -c \
  "virsh -q -c '$URI_A' dumpxml --inactive lun-vm | grep -q \"name='$TGT_IQN_a1/1'\""

# CHAP: the user and the libvirt secret's usage in the XML, never the password
check "mkdir vms/lun-chap" mkdir "$V/lun-chap"
check_eq "a spec with a LUN disk of array2 (CHAP) is taken" ok "$(put_spec lun-chap "$(lun_spec array2 1 shutoff)")"
check "lun-chap becomes InSync" wait_until 30 insync lun-chap
check_eq "virsh: <auth> with the CHAP user and secret usage vdcfs-array2" \
  "network iscsi $TGT_IQN_a2/1 ${TGT_PORTAL_a2%:*} ${TGT_PORTAL_a2##*:} vdcfs-u iscsi vdcfs-array2" \
  "$(disk_of lun-chap)"
check "the CHAP password is not in the domain XML" sh -c \
  "! virsh -q -c '$URI_A' dumpxml --inactive lun-chap | grep -q 'S3cret-chap-pw'"
check "... nor anywhere in the mount" \
  sh -c "! grep -r -a -q 'S3cret-chap-pw' '$M/arrays' '$M/hosts' '$M/vms' '$M/events' 2>/dev/null"

# refused: an array that is not configured, a LUN the array does not have
cp "$V/lun-vm/spec.json" "$T/lun-good.json"
check_eq "an unconfigured array: the close fails with EINVAL" EINVAL "$(put_spec lun-vm "$(lun_spec array9 1)")"
echo "$(lun_spec array9 1)" >"$T/bad-lun.json"
check "... cp says so too" sh -c "! cp '$T/bad-lun.json' '$V/lun-vm/spec.json' 2>'$T/cp.err' && grep -q 'Invalid argument' '$T/cp.err'"
check_eq "... SpecValid False, with the message" \
  'False disks[0]: array "array9" is not a configured array' "$(spec_valid_msg lun-vm)"
check "... in /events" grep -q '"name":"lun-vm".*"event":"spec-refused".*is not a configured array' "$M/events"
check "... the previous spec stays" cmp -s "$T/lun-good.json" "$V/lun-vm/spec.json"
check_eq "a LUN array1 does not have: the close fails with EINVAL" EINVAL "$(put_spec lun-vm "$(lun_spec array1 9)")"
check_eq "... SpecValid False, naming the disk and the LUN" \
  'False disks[0] (vda): array "array1" has no disk LUN 9 (its disk LUNs: 1 2 3)' "$(spec_valid_msg lun-vm)"
check "... in /events" grep -q '"name":"lun-vm".*"event":"spec-refused".*has no disk LUN 9' "$M/events"
check "... the previous spec stays" cmp -s "$T/lun-good.json" "$V/lun-vm/spec.json"
check "... on disk too" cmp -s "$T/lun-good.json" "$T/state/vms/lun-vm/spec.json"
check_eq "LUN 0 (the controller) is no disk LUN either" EINVAL "$(put_spec lun-vm "$(lun_spec array1 0)")"
check "lun-vm is still InSync" insync lun-vm

# --- the array dies ---------------------------------------------------------
kill -9 "$TGT_PID_a1"
check "a dead array says so" wait_until 30 jqt '.connected == false and (.error | length > 0)' "$A1/info.json"
check "... in /events" grep -q '"kind":"array","name":"array1".*"event":"disconnected"' "$M/events"
check "its LUNs stay as last seen" timeout 10 sh -c "[ \"\$(ls '$A1/luns' | xargs)\" = '1 2 3' ]"
check "the rest of the tree does not notice" timeout 10 sh -c "cat '$M/vms/db-1/state' >/dev/null && ls -R '$M' >/dev/null"
check "array2 is still connected" jqt '.connected == true' "$M/arrays/array2/info.json"
check_eq "while array1 is down, a spec naming any of its LUNs is taken" ok "$(put_spec lun-vm "$(lun_spec array1 9)")"
check "... and applied" wait_until 30 sh -c \
  "virsh -q -c '$URI_A' dumpxml --inactive lun-vm | grep -q \"name='$TGT_IQN_a1/9'\""
check_eq "an unconfigured array is still refused" EINVAL "$(put_spec lun-vm "$(lun_spec array9 1)")"

finish
