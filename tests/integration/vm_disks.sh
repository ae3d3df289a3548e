#!/usr/bin/env bash
# vms/<vm>/disks/<target>/info.json (issue 5, seed 004): each disk of a VM
# mapped to what is behind it.  A VM on a real libvirtd whose vda is LUN 1
# of a real tgtd and whose vdb is a file: vda shows the array, the LUN and
# the LUN's facts as an initiator reads them (checked against libiscsi's
# own tool), kept current as the LUN changes and as the array dies.
source "$(dirname "$0")/lib.sh"

start_libvirtd A || { fail "libvirtd"; finish; }
keep_default_open A
URI_A="test+tcp://127.0.0.1:$LV_PORT_A/default"
start_tgtd a1 "$T/array1" 64M || { fail "tgtd"; finish; }

cat >"$T/db-1.xml" <<XML
<domain type='test'>
  <name>db-1</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='network' device='disk'>
      <source protocol='iscsi' name='$TGT_IQN_a1/1'><host name='127.0.0.1' port='${TGT_PORTAL_a1##*:}'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'><source file='$T/db-1-scratch.img'/><target dev='vdb' bus='virtio'/></disk>
  </devices>
</domain>
XML
virsh -q -c "$URI_A" define "$T/db-1.xml" >/dev/null && virsh -q -c "$URI_A" start db-1 >/dev/null ||
  fail "define db-1"

cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 1,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}],
 "arrays": [{"name": "array1", "driver": "tgt", "portal": "$TGT_PORTAL_a1", "target": "$TGT_IQN_a1",
             "backing_dir": "$T/array1", "control_port": $TGT_CTL_a1}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }
D=$M/vms/db-1/disks
VDA=$D/vda/info.json

check_eq "disks/ lists the VM's targets" "vda vdb" "$(ls "$D" | xargs)"
check "the array has been read" wait_until 20 jqt '.lun_info != null' "$VDA"

# --- vda: the LUN behind it -----------------------------------------------------
check_eq "vda: its source as libvirt has it" \
  "{\"type\":\"network\",\"protocol\":\"iscsi\",\"name\":\"$TGT_IQN_a1/1\",\"host\":\"127.0.0.1\",\"port\":${TGT_PORTAL_a1##*:}}" \
  "$(jq -c .source "$VDA")"
check_eq "vda: array and LUN" '"array1" 1 true' "$(jq -c '.array, .lun, .array_connected' "$VDA" | xargs -d '\n')"
url="iscsi://$TGT_PORTAL_a1/$TGT_IQN_a1/1"
check_eq "vda: lun_info.capacity = READ CAPACITY(16)" \
  "$(iscsi-readcapacity16 "$url" | awk -F: '/Total size/ {print $2}')" "$(jq .lun_info.capacity "$VDA")"
check_eq "vda: lun_info is the LUN's info.json" "$(jq -cS . "$M/arrays/array1/luns/1/info.json")" \
  "$(jq -cS .lun_info "$VDA")"
check "vda: the facts the guest cannot see" \
  jqt '.lun_info | .thin_provisioned == true and (.media | IN("ssd", "hdd", "unknown")) and (.wwn | test("^(naa|eui|t10)\\."))' \
  "$VDA"
check_eq "vda: used_by" '["db-1"]' "$(jq -c .lun_info.used_by "$VDA")"

# --- vdb: a file, on no array ----------------------------------------------------
check_eq "vdb: a file disk" "{\"type\":\"file\",\"file\":\"$T/db-1-scratch.img\"}" \
  "$(jq -c .source "$D/vdb/info.json")"
check "vdb: on no array" jqt '.array == null and .lun == null and .lun_info == null and .array_connected == null' \
  "$D/vdb/info.json"

# --- kept current: the LUN fills up (the kernel had the old content) -------------
before=$(jq .lun_info.allocated "$VDA")
dd if=/dev/urandom of="$T/array1/lun1.img" bs=1M count=4 seek=8 conv=notrunc status=none
check "a write to the LUN shows in lun_info.allocated" \
  wait_until 20 jqt ".lun_info.allocated >= $((before + 4194304))" "$VDA"

# --- the array dies: says so, the facts stay as last seen -----------------------
capacity=$(jq .lun_info.capacity "$VDA")
kill -9 "$TGT_PID_a1"
check "array_connected becomes false" wait_until 30 jqt '.array_connected == false and .array_error != null' "$VDA"
check_eq "the LUN's facts stay as last seen" "$capacity" "$(jq .lun_info.capacity "$VDA")"
check "vdb does not care" jqt '.array_connected == null' "$D/vdb/info.json"
check "a crawl of the VM directory" timeout 10 bash -c "ls -R '$M/vms/db-1' >/dev/null && find '$M/vms/db-1' -type f ! -name power ! -name revert -print0 | xargs -0 cat >/dev/null"

finish
