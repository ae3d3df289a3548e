#!/usr/bin/env bash
# Desired state through the mount (issue 4): spec.json written with the
# tools people use, power, mkdir/rmdir/rm, editors' save-by-rename, rsync,
# adoption, bad input — against two libvirtd hosts, checked with virsh.
source "$(dirname "$0")/lib.sh"

start_two_hosts
domain_xml legacy-1 >"$T/legacy-1.xml"
virsh -q -c "$URI_A" define "$T/legacy-1.xml" >/dev/null
virsh -q -c "$URI_A" start legacy-1 >/dev/null

cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 3600,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}, {"name": "beta", "uri": "$URI_B"}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }
V=$M/vms

insync() { jqt '.conditions[] | select(.type=="InSync") | .status=="True"' "$V/$1/status.json"; }
cond() { jq -r ".conditions[] | select(.type==\"$2\") | .$3" "$V/$1/status.json"; }

# --- the issue's walk-through -------------------------------------------
check "mkdir vms/web-3" mkdir "$V/web-3"
check_eq "an empty VM directory" "state status.json" "$(ls "$V/web-3" | xargs)"
check_eq "kept in the state dir" yes "$([ -d "$T/state/vms/web-3" ] && echo yes)"
cat >"$V/web-3/spec.json" <<'EOF'
{"host": "beta", "vcpus": 2, "memory_mib": 2048, "state": "running",
 "disks": [{"target": "vda", "pool": "default-pool", "volume": "web-3.img", "capacity_gib": 20}],
 "interfaces": [{"network": "default"}]}
EOF
check "cat > spec.json succeeds" test $? -eq 0
check "web-3 becomes InSync" wait_until 20 insync web-3
check_eq "state" running "$(cat "$V/web-3/state")"
check_eq "virsh sees it running on beta" running "$(virsh -c "$URI_B" domstate web-3 | head -n1)"
check_eq "virsh: 2 vcpus" 2 "$(virsh -c "$URI_B" vcpucount web-3 --maximum --config)"
check "the volume was created" sh -c "virsh -c '$URI_B' vol-list default-pool | grep -q web-3.img"
check "spec.json reads back as written" cmp -s "$V/web-3/spec.json" "$T/state/vms/web-3/spec.json"
mac=$(jq -r '.assigned_macs[0]' "$V/web-3/status.json")
check_eq "the assigned MAC is the VM's" "$mac" "$(virsh -c "$URI_B" domiflist web-3 | awk '/network/ {print $5}')"
check_eq "generations" "1 1" "$(jq -r '"\(.spec_generation) \(.observed_generation)"' "$V/web-3/status.json")"
check "events say what was applied" grep -q '"name":"web-3".*"event":"applied".*"action":"define"' "$M/events"

# --- power -----------------------------------------------------------------
check "echo shutdown > power" sh -c "echo shutdown > '$V/web-3/power'"
check "it stops" wait_until 20 sh -c "[ \"\$(cat '$V/web-3/state')\" = shutoff ]"
check_eq "virsh agrees" "shut off" "$(virsh -c "$URI_B" domstate web-3 | head -n1)"
check_eq "the spec's state follows" shutoff "$(jq -r .state "$V/web-3/spec.json")"
check_eq "generation 2" 2 "$(jq .spec_generation "$V/web-3/status.json")"
check_eq "reading power gives nothing" "" "$(cat "$V/web-3/power")"
python3 -c "import os, sys, errno
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, b'bogus\n'); print('written')
except OSError as e:
    print(errno.errorcode[e.errno])" "$V/web-3/power" >"$T/power.out"
check_eq "a bad power word: EINVAL" EINVAL "$(cat "$T/power.out")"
check "... and an event that says why" grep -q '"event":"power-refused".*bogus' "$M/events"
check "start again" sh -c "echo start > '$V/web-3/power'"
check "running again" wait_until 20 sh -c "[ \"\$(cat '$V/web-3/state')\" = running ]"

# --- changing it: jq + cp; live where possible -----------------------------
jq '.vcpus = 1 | .memory_mib = 1024' "$V/web-3/spec.json" >"$T/s.json"
check "cp a changed spec" cp "$T/s.json" "$V/web-3/spec.json"
check "InSync again" wait_until 20 insync web-3
check_eq "virsh: 1 vcpu now" 1 "$(virsh -c "$URI_B" vcpucount web-3 --current --live)"
check_eq "virsh: memory in the config" 1048576 "$(virsh -c "$URI_B" dumpxml --inactive web-3 | sed -n 's:.*<memory unit=.KiB.>\(.*\)</memory>.*:\1:p')"
check_eq "the VM kept its MAC" "$mac" "$(virsh -c "$URI_B" domiflist web-3 | awk '/network/ {print $5}')"
jq '.vcpus = 8' "$V/web-3/spec.json" >"$T/s.json"
cp "$T/s.json" "$V/web-3/spec.json"
check "more vcpus than the VM booted with: applied, restart required" \
  wait_until 20 sh -c "[ \"\$(jq -r '.conditions[] | select(.type==\"InSync\") | .reason' '$V/web-3/status.json')\" = RestartRequired ]"
check_eq "the config has 8" 8 "$(virsh -c "$URI_B" vcpucount web-3 --maximum --config)"

# --- bad specs: refused at close, nothing lost ------------------------------
cp "$V/web-3/spec.json" "$T/good.json"
gen=$(jq .spec_generation "$V/web-3/status.json")
bad_write() { # TOOL: writes {"vcpus": 2, "memory_mib": 64, "colour": "red"} with TOOL
  local f=$V/web-3/spec.json bad='{"vcpus": 2, "memory_mib": 64, "colour": "red"}'
  case $1 in
    cp) echo "$bad" >"$T/bad.json"; cp "$T/bad.json" "$f" ;;
    dd) echo "$bad" | dd of="$f" bs=7 status=none ;;
    python) python3 -c "import sys
f = open(sys.argv[1], 'w')
for part in sys.argv[2].split(','):   # several write() calls
    f.write(part + ','); f.flush()
f.close()" "$f" "$bad" ;;
    tee) echo "$bad" | tee "$f" >/dev/null ;;
  esac
}
for tool in cp dd python tee; do
  out=$(bad_write $tool 2>&1); rc=$?
  check "$tool of a spec with an unknown key fails" test $rc -ne 0
  check "$tool: the error is EINVAL" sh -c "echo '$out' | grep -q 'Invalid argument'"
  check "$tool: the previous spec stays" cmp -s "$T/good.json" "$V/web-3/spec.json"
  check "$tool: ... on disk too" cmp -s "$T/good.json" "$T/state/vms/web-3/spec.json"
done
check_eq "SpecValid False, naming the key" 'False unknown key "colour"' "$(cond web-3 SpecValid status) $(cond web-3 SpecValid message)"
check "the refusal is in /events" grep -q '"event":"spec-refused".*colour' "$M/events"
check_eq "the generation did not move" "$gen" "$(jq .spec_generation "$V/web-3/status.json")"
for bad in '{' '[]' '{"vcpus": 0, "memory_mib": 1}' '{"vcpus": 1, "memory_mib": 64, "host": "nowhere"}' \
           '{"vcpus": 1, "memory_mib": 64, "state": "flying"}' \
           '{"vcpus": 1, "memory_mib": 64, "host": "alpha"}'; do
  echo "$bad" >"$T/bad.json"
  check "refused: $bad" sh -c "! cp '$T/bad.json' '$V/web-3/spec.json' 2>/dev/null"
done
check "moving a defined VM is refused with a message" sh -c "jq -r '.conditions[0].message' '$V/web-3/status.json' | grep -q 'does not move VMs'"
check "the last good spec is still there" cmp -s "$T/good.json" "$V/web-3/spec.json"

# --- editors and rsync: temporary file + rename ----------------------------
check "sed -i (temp file + rename)" sed -i 's/"vcpus": 8/"vcpus": 2/' "$V/web-3/spec.json"
check_eq "no temporary file left" "disks domain.xml power revert snapshots spec.json state status.json" "$(ls -A "$V/web-3" | xargs)"
check "the renamed spec is in force" wait_until 20 sh -c "[ \"\$(jq .vcpus '$V/web-3/spec.json')\" = 2 ] && [ \"\$(virsh -c '$URI_B' vcpucount web-3 --maximum --config)\" = 2 ]"
echo '{"vcpus": 1}' >"$V/web-3/notes.tmp"
check "a temporary file is a plain file" test "$(cat "$V/web-3/notes.tmp")" = '{"vcpus": 1}'
check "renaming a bad temporary file over spec.json: EINVAL" sh -c "! mv '$V/web-3/notes.tmp' '$V/web-3/spec.json' 2>/dev/null"
check "... the temporary file is still there" test -e "$V/web-3/notes.tmp"
check "and can be removed" rm "$V/web-3/notes.tmp"

mkdir -p "$T/git/vms/app-1" "$T/git/vms/app-2"
echo '{"vcpus": 1, "memory_mib": 128}' >"$T/git/vms/app-1/spec.json"
echo '{"vcpus": 1, "memory_mib": 128, "state": "paused", "host": "alpha"}' >"$T/git/vms/app-2/spec.json"
cp "$V/web-3/spec.json" "$T/git/vms/web-3.json.unused" 2>/dev/null
mkdir -p "$T/git/vms/web-3" && cp "$V/web-3/spec.json" "$T/git/vms/web-3/spec.json"
rm -f "$T/git/vms/web-3.json.unused"
out=$(rsync -r --delete "$T/git/vms/" "$V/" 2>&1); rc=$?
check "rsync -r --delete exits 0" test $rc -eq 0 || echo "$out" | sed 's/^/#   /'
check "app-1 converges" wait_until 20 insync app-1
check "app-2 converges (paused)" wait_until 20 insync app-2
check_eq "app-2 paused on alpha" paused "$(virsh -c "$URI_A" domstate app-2 | head -n1)"
check "legacy-1 (running, no spec, prune off) was left" sh -c "virsh -q -c '$URI_A' dominfo legacy-1 >/dev/null"
check "... with a warning in /events" grep -q '"name":"legacy-1".*"event":"warning"' "$M/events"
check_eq "rsync again: nothing changes" 1 "$(jq .spec_generation "$V/app-1/status.json")"
rsync -r --delete "$T/git/vms/" "$V/" >/dev/null 2>&1
check_eq "... still generation 1" 1 "$(jq .spec_generation "$V/app-1/status.json")"
check "diff -r with the repository is clean for specs" diff "$T/git/vms/app-1/spec.json" "$V/app-1/spec.json"

# --- adoption: a VM made outside vdcfs -----------------------------------------
check_eq "legacy-1's spec.json describes it" '"alpha" 1 512' "$(jq -c '.host, .vcpus, .memory_mib' "$V/legacy-1/spec.json" | xargs -d '\n' | sed 's/\n/ /g')"
jq '.memory_mib = 256' "$V/legacy-1/spec.json" >"$T/adopt.json"
check "writing it adopts the VM" cp "$T/adopt.json" "$V/legacy-1/spec.json"
check "adopted and in sync" wait_until 20 insync legacy-1
check_eq "same uuid as before" "$(virsh -c "$URI_A" domuuid legacy-1 | head -n1)" "$(jq -r .uuid "$V/legacy-1/status.json")"
check_eq "its MAC kept (the spec it read back names it)" "$(virsh -c "$URI_A" domiflist legacy-1 | awk '/network/ {print $5}')" "$(jq -r '.interfaces[0].mac' "$V/legacy-1/spec.json")"
check_eq "one legacy-1 on alpha" 1 "$(virsh -c "$URI_A" list --all --name | grep -cx legacy-1)"

# --- removing ---------------------------------------------------------------------
out=$(rmdir "$V/web-3" 2>&1); rc=$?
check "rmdir of a running VM: EBUSY" sh -c "[ $rc -ne 0 ] && echo '$out' | grep -q 'busy'"
echo shutdown >"$V/web-3/power"
wait_until 20 sh -c "[ \"\$(cat '$V/web-3/state')\" = shutoff ]"
check "rmdir once it is shut off" rmdir "$V/web-3"
check "undefined on beta" wait_until 20 sh -c "! virsh -q -c '$URI_B' dominfo web-3 >/dev/null 2>&1"
check "gone from vms/" test ! -e "$V/web-3"
check "and from the state dir" wait_until 10 test ! -e "$T/state/vms/web-3"
check "rm spec.json stops managing app-1" rm "$V/app-1/spec.json"
check_eq "app-1 stays on its host" running "$(cat "$V/app-1/state")"
check_eq "its spec.json now describes it" 128 "$(jq .memory_mib "$V/app-1/spec.json")"
check_eq "unmanaged" null "$(jq .spec_generation "$V/app-1/status.json")"

# --- permissions ---------------------------------------------------------------------
check_eq "spec.json 0644, power 0644, status.json 0444" "644 644 444" "$(stat -c %a "$V/app-2/spec.json" "$V/app-2/power" "$V/app-2/status.json" | xargs)"
check_eq "vms/ and VM directories 0755, hosts/ 0555" "755 755 555" "$(stat -c %a "$V" "$V/app-2" "$M/hosts" | xargs)"
check "even root cannot write status.json" sh -c "! (echo x > '$V/app-2/status.json') 2>/dev/null"
check "nor make files outside VM directories" sh -c "! touch '$M/hosts/x' 2>/dev/null && ! mkdir '$M/pools/x' 2>/dev/null"
check "a directory name that cannot be a VM name: EINVAL" sh -c "! mkdir '$V/a@b' 2>/dev/null"

finish
