#!/usr/bin/env bash
# The demo datacenter, browsed with the tools users use: ls, cat, stat,
# find, jq, readlink, cp, tar, rsync, diff.  Only VM directories take writes
# (spec_write.sh); everything else refuses them, even for root.
source "$(dirname "$0")/lib.sh"

M=$T/dc
mount_vdcfs "$M" --demo || { fail "mount the demo"; finish; }
pass "vdcfs --demo returns once the mount is ready"

check_eq "top level" "arrays events hosts pools vms" "$(ls "$M" | xargs)"
check_eq "hosts" "alpha beta gamma" "$(ls "$M/hosts" | xargs)"
check_eq "a host's directory" "info.json pools vms" "$(ls "$M/hosts/alpha" | xargs)"
check_eq "info.json connected" "true" "$(jq .connected "$M/hosts/alpha/info.json")"
check_eq "info.json hypervisor" '"TEST"' "$(jq .hypervisor "$M/hosts/alpha/info.json")"
check "info.json has every contract key" jqt 'has("name") and has("uri") and has("connected")
  and has("hypervisor") and has("hypervisor_version") and has("libvirt_version") and has("cpus")
  and has("memory_kib") and has("error")' "$M/hosts/beta/info.json"
check_eq "cpus from the host" 32 "$(jq .cpus "$M/hosts/alpha/info.json")"

# VM names: plain when unique, name@host when shared, unsafe ones encoded.
vms=$(ls "$M/vms" | xargs)
check "unique name is plain" grep -qw web-1 <<<"$vms"
check "shared name shows as name@host (alpha)" grep -q 'db-1@alpha' <<<"$vms"
check "shared name shows as name@host (beta)" grep -q 'db-1@beta' <<<"$vms"
check "no plain entry for a shared name" test ! -e "$M/vms/db-1"
check "a VM named .. is shown percent-encoded" test -d "$M/vms/%2E%2E"
check_eq "its status keeps the real name" '".."' "$(jq .name "$M/vms/%2E%2E/status.json")"
check_eq "every VM is listed" 15 "$(ls "$M/vms" | wc -l)"

check_eq "state of a running VM" running "$(cat "$M/vms/web-1/state")"
check_eq "state of a paused VM" paused "$(cat "$M/vms/cache-1/state")"
check_eq "state of a shut-off VM" shutoff "$(cat "$M/vms/batch-1/state")"
check_eq "grep -l paused across VMs" "$M/vms/cache-1/state" "$(grep -l paused "$M"/vms/*/state)"
check_eq "status.json host" '"alpha"' "$(jq .host "$M/vms/db-1@alpha/status.json")"
check_eq "status.json state matches state" '"paused"' "$(jq .state "$M/vms/cache-1/status.json")"
check_eq "status.json vcpus" 4 "$(jq .vcpus "$M/vms/db-1@beta/status.json")"
check_eq "status.json memory_kib" 8388608 "$(jq .memory_kib "$M/vms/db-1@beta/status.json")"
check_eq "iSCSI disk source" '{"protocol":"iscsi","name":"iqn.2026-01.io.vdcfs:array1/1","host":"127.0.0.1","port":3260}' \
  "$(jq -c '.disks[0].source' "$M/vms/db-1@alpha/status.json")"
check_eq "pool volume disk source" '{"pool":"default","volume":"db-1-data.img"}' \
  "$(jq -c '.disks[1].source' "$M/vms/db-1@alpha/status.json")"
check_eq "file disk source" '{"file":"/var/lib/libvirt/images/cache-1.qcow2"}' \
  "$(jq -c '.disks[0].source' "$M/vms/cache-1/status.json")"
check_eq "interfaces" '[{"mac":"52:54:00:a1:00:02","network":"default"},{"mac":"52:54:00:a1:00:03","bridge":"br-dmz"}]' \
  "$(jq -c .interfaces "$M/vms/web-1/status.json")"
check "domain.xml is the hypervisor's XML" grep -q "<name>web-1</name>" "$M/vms/web-1/domain.xml"

# hosts/<h>/vms/<vm> are symlinks into vms/.
check_eq "host VM link target" "../../../vms/db-1@alpha" "$(readlink "$M/hosts/alpha/vms/db-1")"
check_eq "host VM link resolves" running "$(cat "$M/hosts/alpha/vms/db-1/state")"
check_eq "host lists its own VMs" "%2E%2E cache-1 db-1 web-1" "$(ls "$M/hosts/alpha/vms" | xargs)"
check "ls -l shows symlinks" bash -c "ls -l '$M/hosts/beta/vms/' | grep -q '^l.*web-2 -> ../../../vms/web-2'"

# Pools, per host and across the cluster.
check_eq "pools across the cluster" "default iso vdi" "$(ls "$M/pools" | xargs)"
check_eq "cluster pool hosts" '["alpha","beta","gamma"]' "$(jq -c '.hosts | keys' "$M/pools/default/info.json")"
check "cluster pool per-host facts" jqt '.hosts.beta | has("state") and has("capacity") and has("allocation") and has("available")' "$M/pools/default/info.json"
check_eq "host pool info" '"dir"' "$(jq .type "$M/hosts/gamma/pools/vdi/info.json")"
check_eq "volumes as json files" 6 "$(ls "$M/hosts/gamma/pools/vdi/volumes" | grep -c '\.json$')"
check_eq "volume facts" '"vdi-03.qcow2"' "$(jq .name "$M/hosts/gamma/pools/vdi/volumes/vdi-03.qcow2.json")"
check "volume has path, type, capacity, allocation" jqt 'has("path") and has("type") and .capacity > 0 and has("allocation")' \
  "$M/hosts/gamma/pools/vdi/volumes/vdi-03.qcow2.json"

# Sizes are true, so copies are whole.
size_ok=1
while IFS= read -r -d '' f; do
  [ "$(stat -c %s "$f")" -eq "$(cat "$f" | wc -c)" ] || { size_ok=0; echo "# size mismatch: $f"; }
done < <(find "$M" -path "$M/events" -prune -o -type f -print0)
check "stat size equals content length for every file" test $size_ok -eq 1
check_eq "find sees every VM file (15 VMs x 6, and an info.json per disk: 16)" 106 \
  "$(find "$M/vms" -type f | wc -l)"

mkdir -p "$T/copies"
check "cp -r copies the tree" cp -r "$M/vms" "$T/copies/cp"
check "diff -r: the copy equals the mount" diff -r "$M/vms" "$T/copies/cp"
check "tar of the tree" tar -C "$M" --exclude=./events -cf "$T/copies/dc.tar" ./vms ./hosts ./pools
mkdir -p "$T/copies/untar" && tar -C "$T/copies/untar" -xf "$T/copies/dc.tar"
check "tar round trip equals the mount" diff -r "$M/hosts/gamma/pools" "$T/copies/untar/hosts/gamma/pools"
check "rsync -a of the tree" rsync -a --exclude=/events "$M/" "$T/copies/rsync/"
check "rsync copy equals the mount" diff -r "$M/vms" "$T/copies/rsync/vms"
check_eq "rsync copied the symlinks as symlinks" "../../../vms/web-2" "$(readlink "$T/copies/rsync/hosts/beta/vms/web-2")"

# refused DESCRIPTION ERRNO_TEXT COMMAND...: fails with that message.
refused() {
  local what=$1 text=$2 out; shift 2
  out=$("$@" 2>&1) && { fail "$what: succeeded"; return; }
  if grep -q "$text" <<<"$out"; then pass "$what"; else fail "$what: $out"; fi
}
refused "writing state: EACCES, even for root" "Permission denied" bash -c "echo x > '$M/vms/web-1/state'"
refused "creating a file outside VM directories" "Permission denied" touch "$M/hosts/new"
refused "mkdir outside vms/" "Permission denied" mkdir "$M/pools/new"
refused "renaming a VM directory" "Operation not permitted" mv "$M/vms/web-1" "$M/vms/web-9"
refused "symlinks" "Operation not permitted" ln -s x "$M/vms/web-1/link"
check_eq "the tree is unchanged" running "$(cat "$M/vms/web-1/state")"
check "statfs works" bash -c "stat -f -c %b '$M' >/dev/null"
check "permissions are honest (0444 files)" test "$(stat -c %a "$M/vms/web-1/state")" = 444

# --- vms/<vm>/disks/<target>/info.json: what is behind each disk -----------------
D=$M/vms/db-1@alpha/disks
check_eq "a VM directory has disks/" "disks domain.xml power revert snapshots spec.json state status.json" \
  "$(ls "$M/vms/web-1" | xargs)"
check_eq "one directory per disk, named by target" "vda vdb" "$(ls "$D" | xargs)"
check_eq "a disk directory" "info.json" "$(ls "$D/vda" | xargs)"
check_eq "a file disk" '{"type":"file","file":"/var/lib/libvirt/images/cache-1.qcow2"}' \
  "$(jq -c .source "$M/vms/cache-1/disks/vda/info.json")"
check_eq "a pool volume disk" '{"type":"volume","pool":"default","volume":"db-1-data.img"}' \
  "$(jq -c .source "$D/vdb/info.json")"
check_eq "target, bus, device as the VM has them" '"vdb" "virtio" "disk"' \
  "$(jq -c '.target, .bus, .device' "$D/vdb/info.json" | xargs -d '\n')"
check "not on an array: array, lun, lun_info, array_connected null" \
  jqt '.array == null and .lun == null and .lun_info == null and .array_connected == null' "$D/vdb/info.json"
check "an iSCSI disk of an array not configured here: the source, no array" \
  jqt '.source.type == "network" and .source.protocol == "iscsi" and .source.port == 3260 and .array == null' \
  "$D/vda/info.json"
check_eq "the same source as status.json" "$(jq -c '.disks[1].source' "$M/vms/db-1@alpha/status.json")" \
  "$(jq -c '.source | del(.type)' "$D/vdb/info.json")"
check_eq "every disk of every VM has its directory" \
  "$(cat "$M"/vms/*/status.json | jq -s 'map(.disks | length) | add')" "$(ls -d "$M"/vms/*/disks/* | wc -l)"
refused "disk files are read-only" "Permission denied" bash -c "echo x > '$D/vdb/info.json'"
refused "no new disk directories" "Permission denied" mkdir "$D/vdz"

fusermount3 -u "$M"
check "unmount works and the daemon exits" wait_until 10 bash -c "! pgrep -f 'vdcfs.* $M\$' >/dev/null"
finish
