#!/usr/bin/env bash
# Desired state, more of it (issue 4): drift done behind vdcfs' back with
# virsh is put back; a frozen host (SIGSTOP) leaves new specs accepted and
# pending while the tree stays usable, and they converge once it answers;
# with -o allow_other and "admin_group", only the owner and the group may
# change the datacenter, everybody may read.  Two libvirtd hosts, checked
# with virsh.
source "$(dirname "$0")/lib.sh"

# --- users and a group for the permission checks -----------------------
# Made here, removed at exit (after lib.sh's cleanup); only what this test
# made is removed.
GROUP=vdcadm-test
U_IN=vdcfs-t-adm  # in $GROUP
U_OUT=vdcfs-t-usr # not in it
MADE_USERS=()
MADE_GROUP=
remove_accounts() {
  local u
  for u in "${MADE_USERS[@]}"; do userdel -f "$u" >/dev/null 2>&1 || true; done
  MADE_USERS=()
  [ -n "$MADE_GROUP" ] && groupdel "$MADE_GROUP" >/dev/null 2>&1
  MADE_GROUP=
  return 0
}
trap 'cleanup; remove_accounts' EXIT
trap 'exit 130' INT TERM
getent group "$GROUP" >/dev/null || { groupadd -f "$GROUP" && MADE_GROUP=$GROUP; }
for u in "$U_IN" "$U_OUT"; do
  getent passwd "$u" >/dev/null && continue
  extra=(); [ "$u" = "$U_IN" ] && extra=(-G "$GROUP")
  useradd -M -N -s /bin/sh "${extra[@]}" "$u" && MADE_USERS+=("$u")
done
check "test users exist" sh -c "getent passwd '$U_IN' '$U_OUT' >/dev/null"
chmod 755 "$T" # other users must reach the mount points

start_two_hosts
domain_xml plain-a >"$T/plain-a.xml" # unmanaged, on alpha
virsh -q -c "$URI_A" define "$T/plain-a.xml" >/dev/null
virsh -q -c "$URI_A" start plain-a >/dev/null

# refresh_seconds 1: a deep refresh (every 10th) every ~10 s, the safety
# net for drift that comes without an event.
cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 1, "admin_group": "$GROUP",
 "hosts": [{"name": "alpha", "uri": "$URI_A"}, {"name": "beta", "uri": "$URI_B"}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" -o allow_other || { fail "mount"; finish; }
V=$M/vms

# Reads are bounded everywhere: a read that hangs is a failure, not a hang.
cond() { timeout 10 jq -r ".conditions[] | select(.type==\"$2\") | .$3" "$V/$1/status.json"; }
insync() { [ "$(cond "$1" InSync status)" = True ]; }
domstate() { virsh -c "$1" domstate "$2" 2>/dev/null | head -n1; }
# as USER CMD ARGS...: runs a shell command as USER (bounded).
as() { local u=$1; shift; timeout 10 runuser -u "$u" -- sh -c "$@"; }
# tjq FILTER FILE: jqt, bounded (a read must not hang).
tjq() { timeout 10 jq -e "$@" >/dev/null; }
# denied RC OUTPUT: the command failed with EACCES.
denied() { [ "$1" -ne 0 ] && grep -q 'Permission denied' <<<"$2"; }
# count_events PATTERN: lines of /events that match.
count_events() { grep -c "$1" "$M/events"; }

# --- permissions: -o allow_other and admin_group ----------------------
check_eq "runuser gives the member its group" yes \
  "$(as "$U_IN" 'id -Gn' | grep -qw "$GROUP" && echo yes)"
check_eq "admin group: spec.json and power 0664, vms/ 0775" "664 664 775" \
  "$(stat -c %a "$V/plain-a/spec.json" "$V/plain-a/power" "$V" | xargs)"
check_eq "... owned by root and the admin group" "root:$GROUP" "$(stat -c %U:%G "$V/plain-a/spec.json")"
check_eq "status.json stays read-only" 444 "$(stat -c %a "$V/plain-a/status.json")"
check_eq "a non-member can read status.json" '"plain-a"' \
  "$(as "$U_OUT" 'jq .name "$1"' sh "$V/plain-a/status.json")"
check_eq "... and spec.json" 512 "$(as "$U_OUT" 'jq .memory_mib "$1"' sh "$V/plain-a/spec.json")"
cp "$V/plain-a/spec.json" "$T/plain-a.spec"
out=$(as "$U_OUT" 'jq ".memory_mib = 256" "$1" > "$1"' sh "$V/plain-a/spec.json" 2>&1); rc=$?
check "a non-member cannot write spec.json: EACCES" denied $rc "$out"
check "... nothing changed" cmp -s "$T/plain-a.spec" "$V/plain-a/spec.json"
check "... nothing in the state dir" test ! -e "$T/state/vms/plain-a/spec.json"
out=$(as "$U_OUT" 'echo shutdown > "$1"' sh "$V/plain-a/power" 2>&1); rc=$?
check "a non-member cannot write power: EACCES" denied $rc "$out"
check_eq "... plain-a still runs" running "$(domstate "$URI_A" plain-a)"
out=$(as "$U_OUT" 'mkdir "$1"' sh "$V/nope-1" 2>&1); rc=$?
check "a non-member cannot mkdir in vms/: EACCES" denied $rc "$out"
check "... no such entry" test ! -e "$V/nope-1"
out=$(as "$U_OUT" 'touch "$1"' sh "$V/plain-a/x.tmp" 2>&1); rc=$?
check "a non-member cannot create files in a VM directory: EACCES" denied $rc "$out"

check "the member can mkdir in vms/" as "$U_IN" 'mkdir "$1"' sh "$V/grp-1"
check "the member can write a spec" as "$U_IN" \
  'printf "%s\n" "{\"host\": \"beta\", \"vcpus\": 1, \"memory_mib\": 128}" > "$1"' sh "$V/grp-1/spec.json"
check "... it is accepted and converges" wait_until 20 insync grp-1
check_eq "... virsh sees it on beta" running "$(domstate "$URI_B" grp-1)"
check "... kept in the state dir" test -s "$T/state/vms/grp-1/spec.json"
check "the member can use power" as "$U_IN" 'echo suspend > "$1"' sh "$V/grp-1/power"
check "... paused" wait_until 20 sh -c "[ \"\$(virsh -c '$URI_B' domstate grp-1 | head -n1)\" = paused ]"
# (sed warns that it cannot chown its temporary file to root: only the
# owner may chown, and every file of the mount is root's.)
check "the member can save with temp file + rename (sed -i)" as "$U_IN" \
  'sed -i "s/\"memory_mib\": 128/\"memory_mib\": 256/" "$1" 2>/dev/null' sh "$V/grp-1/spec.json"
check "... applied" wait_until 20 sh -c "[ \"\$(jq .memory_mib '$V/grp-1/spec.json')\" = 256 ] && virsh -c '$URI_B' dumpxml --inactive grp-1 | grep -q '>262144</memory>'"

# Without allow_other the kernel lets nobody but the mounting user in.
cat >"$T/dc-ro.json" <<JSON
{"refresh_seconds": 3600, "hosts": [{"name": "alpha", "uri": "$URI_A"}]}
JSON
M2=$T/ro
mount_vdcfs "$M2" --config "$T/dc-ro.json" || fail "a second mount without allow_other"
check_eq "root reads the second mount" running "$(timeout 10 cat "$M2/vms/plain-a/state")"
out=$(as "$U_OUT" 'cat "$1"' sh "$M2/vms/plain-a/state" 2>&1); rc=$?
check "without allow_other another user cannot read: EACCES" denied $rc "$out"
out=$(as "$U_IN" 'ls "$1"' sh "$M2/vms" 2>&1); rc=$?
check "... not even the admin group, nor list" denied $rc "$out"
check "unmount the second mount" wait_until 10 fusermount3 -u "$M2"

# --- drift: changes behind vdcfs' back are put back --------------------
mkdir "$V/drift-1"
cat >"$V/drift-1/spec.json" <<'EOF'
{"host": "alpha", "vcpus": 2, "memory_mib": 512, "state": "running",
 "disks": [{"target": "vda", "file": "/images/drift-1.img"}],
 "interfaces": [{"network": "default"}]}
EOF
check "drift-1: spec accepted" test $? -eq 0
check "drift-1 becomes InSync" wait_until 20 insync drift-1
uuid=$(jq -r .uuid "$V/drift-1/status.json")
check_eq "virsh agrees on the uuid" "$uuid" "$(virsh -c "$URI_A" domuuid drift-1 | head -n1)"

# (a) destroyed while the spec says running: started again.
starts=$(count_events '"name":"drift-1".*"event":"applied".*"action":"start"')
virsh -q -c "$URI_A" destroy drift-1 >/dev/null
check "destroyed behind our back: vdcfs starts it again (event)" \
  wait_until 20 sh -c "[ \$(grep -c '\"name\":\"drift-1\".*\"event\":\"applied\".*\"action\":\"start\"' '$M/events') -gt $starts ]"
check "... virsh: running" wait_until 20 sh -c "[ \"\$(virsh -c '$URI_A' domstate drift-1 | head -n1)\" = running ]"
check "... state running, InSync" wait_until 20 sh -c "[ \"\$(cat '$V/drift-1/state')\" = running ] && jq -e '.conditions[] | select(.type==\"InSync\") | .status==\"True\"' '$V/drift-1/status.json' >/dev/null"
check_eq "... the spec still says running" running "$(jq -r .state "$V/drift-1/spec.json")"

# (b) the definition changed (no event comes for these): the deep
# refresh finds it and the spec's vcpus and memory are put back.
defines=$(count_events '"name":"drift-1".*"event":"applied".*"action":"define"')
check "virsh changes vcpus and memory of the definition" sh -c "
  virsh -q -c '$URI_A' setvcpus drift-1 4 --config --maximum >/dev/null &&
  virsh -q -c '$URI_A' setvcpus drift-1 4 --config >/dev/null &&
  virsh -q -c '$URI_A' setmaxmem drift-1 1G --config >/dev/null &&
  virsh -q -c '$URI_A' setmem drift-1 768M --config >/dev/null"
check "vcpus and memory of the definition are put back" wait_until 40 sh -c \
  "[ \"\$(virsh -c '$URI_A' vcpucount drift-1 --maximum --config)\" = 2 ] && virsh -c '$URI_A' dumpxml --inactive drift-1 | grep -q '<memory unit=.KiB.>524288</memory>'"
check_eq "... current vcpus in the definition" 2 "$(virsh -c "$URI_A" vcpucount drift-1 --current --config)"
check_eq "... current memory in the definition" 524288 \
  "$(virsh -c "$URI_A" dumpxml --inactive drift-1 | sed -n 's:.*<currentMemory unit=.KiB.>\(.*\)</currentMemory>.*:\1:p')"
check_eq "... dominfo: max memory" "524288 KiB" "$(virsh -c "$URI_A" dominfo drift-1 | sed -n 's/^Max memory: *//p')"
check "... by a define (event)" \
  test "$(count_events '"name":"drift-1".*"event":"applied".*"action":"define"')" -gt "$defines"
check_eq "... still running" running "$(domstate "$URI_A" drift-1)"
check "... InSync" wait_until 20 insync drift-1

# ... each alone: the maximum vcpus only (the current count stays 2), then
# the current memory only (<memory> stays 512 MiB).  The spec's vcpus are
# both counts, its memory_mib both <memory> and <currentMemory>.
config_vcpus() { # maximum current, of the definition
  echo "$(virsh -c "$URI_A" vcpucount drift-1 --maximum --config) $(virsh -c "$URI_A" vcpucount drift-1 --current --config)"
}
config_memory() { # <memory> <currentMemory>, KiB, of the definition
  virsh -c "$URI_A" dumpxml --inactive drift-1 | sed -n \
    -e 's:.*<memory unit=.KiB.>\(.*\)</memory>.*:\1:p' \
    -e 's:.*<currentMemory unit=.KiB.>\(.*\)</currentMemory>.*:\1:p' | xargs
}
define_events() { count_events '"name":"drift-1".*"event":"applied".*"action":"define"'; }
check_eq "before: the definition has 2 vcpus at most, 2 now" "2 2" "$(config_vcpus)"
check_eq "before: memory and current memory 512 MiB" "524288 524288" "$(config_memory)"
defines=$(define_events)
check "virsh raises only the maximum vcpus of the definition" \
  virsh -q -c "$URI_A" setvcpus drift-1 4 --config --maximum
check "the maximum vcpus alone are put back" wait_until 40 sh -c \
  "[ \"\$(virsh -c '$URI_A' vcpucount drift-1 --maximum --config)\" = 2 ]"
check "... by a define (event)" wait_until 20 sh -c \
  "[ \$(grep -c '\"name\":\"drift-1\".*\"event\":\"applied\".*\"action\":\"define\"' '$M/events') -gt $defines ]"
check_eq "... the definition: 2 vcpus at most, 2 now" "2 2" "$(config_vcpus)"
check_eq "... its memory untouched" "524288 524288" "$(config_memory)"
check_eq "... still running" running "$(domstate "$URI_A" drift-1)"
check "... InSync" wait_until 20 insync drift-1

defines=$(define_events)
check "virsh lowers only the current memory of the definition" \
  virsh -q -c "$URI_A" setmem drift-1 256M --config
check "the current memory alone is put back" wait_until 40 sh -c \
  "virsh -c '$URI_A' dumpxml --inactive drift-1 | grep -q '<currentMemory unit=.KiB.>524288</currentMemory>'"
check "... by a define (event)" wait_until 20 sh -c \
  "[ \$(grep -c '\"name\":\"drift-1\".*\"event\":\"applied\".*\"action\":\"define\"' '$M/events') -gt $defines ]"
check_eq "... the definition: memory and current memory 512 MiB" "524288 524288" "$(config_memory)"
check_eq "... its vcpus untouched" "2 2" "$(config_vcpus)"
check_eq "... still running" running "$(domstate "$URI_A" drift-1)"
check "... InSync" wait_until 20 insync drift-1
# In sync, it stays so: a definition that says what the spec says, in
# libvirt's words, is not defined again (a deep refresh, every ~10 s here,
# comes by meanwhile; if it did not, this check proves less, not wrong).
defines=$(define_events)
sleep 12
check_eq "in sync: no further define" "$defines" "$(define_events)"

# (c) undefined while running: libvirt keeps it running, transient; vdcfs
# makes it persistent again, with its uuid.
virsh -q -c "$URI_A" undefine drift-1 >/dev/null
check "undefined while running: persistent again" wait_until 20 sh -c \
  "virsh -c '$URI_A' dominfo drift-1 | grep -q '^Persistent: *yes'"
check_eq "... same uuid" "$uuid" "$(virsh -c "$URI_A" domuuid drift-1 | head -n1)"
check_eq "... still running" running "$(domstate "$URI_A" drift-1)"
check "... InSync" wait_until 20 insync drift-1

# destroyed and undefined in one go (vdcfs may restart it in between:
# either way it must end defined, running, with the same uuid).
virsh -q -c "$URI_A" "destroy drift-1; undefine drift-1" >/dev/null 2>&1
check "destroyed and undefined: defined again, running" wait_until 20 sh -c \
  "virsh -c '$URI_A' dominfo drift-1 | grep -q '^Persistent: *yes' && [ \"\$(virsh -c '$URI_A' domstate drift-1 | head -n1)\" = running ]"
check_eq "... same uuid (virsh)" "$uuid" "$(virsh -c "$URI_A" domuuid drift-1 | head -n1)"
check "... InSync" wait_until 20 insync drift-1

# shut off by the spec, then undefined: defined again, shut off.
echo shutdown >"$V/drift-1/power"
check "shutdown through power" wait_until 20 sh -c "[ \"\$(virsh -c '$URI_A' domstate drift-1 | head -n1)\" = 'shut off' ] && [ \"\$(cat '$V/drift-1/state')\" = shutoff ]"
check "... InSync (shutoff)" wait_until 20 insync drift-1
virsh -q -c "$URI_A" undefine drift-1 >/dev/null
check "undefined behind our back: defined again" wait_until 20 sh -c \
  "virsh -q -c '$URI_A' dominfo drift-1 >/dev/null 2>&1"
check_eq "... with the same uuid (virsh)" "$uuid" "$(virsh -c "$URI_A" domuuid drift-1 | head -n1)"
check "... status.json has it back" wait_until 20 sh -c "[ \"\$(jq -r .uuid '$V/drift-1/status.json')\" = '$uuid' ] && [ \"\$(cat '$V/drift-1/state')\" = shutoff ]"
check_eq "... the state dir keeps the uuid" "$uuid" "$(jq -r .uuid "$T/state/vms/drift-1/vdcfs.json")"
check_eq "... left shut off, as the spec says" "shut off" "$(domstate "$URI_A" drift-1)"
check "... InSync" wait_until 20 insync drift-1
check_eq "one drift-1 on alpha" 1 "$(virsh -c "$URI_A" list --all --name | grep -cx drift-1)"

# --- a frozen host: writes are taken and wait; nothing hangs -----------
kill -STOP "$LV_PID_B"
check "mkdir for a VM on the frozen host returns" timeout 10 mkdir "$V/pend-1"
check "writing its spec returns with success" timeout 10 sh -c \
  "printf '%s\n' '{\"host\": \"beta\", \"vcpus\": 1, \"memory_mib\": 64}' > '$V/pend-1/spec.json'"
check "... persisted" grep -q '"beta"' "$T/state/vms/pend-1/spec.json"
check_eq "... and shown" beta "$(timeout 10 jq -r .host "$V/pend-1/spec.json")"
check "ls -lR of the tree does not hang" timeout 10 sh -c "ls -lR '$M/hosts' '$V' >/dev/null"
check "cat of every file does not hang" timeout 10 bash -c \
  "find '$M' -path '$M/events' -prune -o -type f ! -name power -print0 | xargs -0 cat >/dev/null"
check "pend-1: Applied not True, with a reason" tjq \
  '.conditions[] | select(.type=="Applied") | .status != "True" and (.reason | length > 0)' "$V/pend-1/status.json"
check "pend-1: InSync not True, with a reason" tjq \
  '.conditions[] | select(.type=="InSync") | .status != "True" and (.reason | length > 0)' "$V/pend-1/status.json"

# The other host goes on working meanwhile.
check "alpha: a new spec" timeout 10 sh -c \
  "mkdir '$V/live-1' && printf '%s\n' '{\"host\": \"alpha\", \"vcpus\": 1, \"memory_mib\": 64}' > '$V/live-1/spec.json'"
check "... converges while beta is frozen" wait_until 20 insync live-1
check_eq "... virsh sees it" running "$(domstate "$URI_A" live-1)"
virsh -q -c "$URI_A" suspend plain-a >/dev/null
check "alpha's events still arrive" wait_until 20 timeout 10 grep -qx paused "$V/plain-a/state"

check "the frozen host is detected (keepalive)" wait_until 45 tjq '.connected == false' "$M/hosts/beta/info.json"
check "a spec written now returns too" timeout 10 sh -c \
  "mkdir '$V/pend-2' && printf '%s\n' '{\"host\": \"beta\", \"vcpus\": 1, \"memory_mib\": 64}' > '$V/pend-2/spec.json'"
check "... persisted" grep -q '"beta"' "$T/state/vms/pend-2/spec.json"
log "pending: $(timeout 10 jq -c '[.conditions[] | [.type, .status, .reason, .message]]' "$V/pend-1/status.json")"
for vm in pend-1 pend-2; do
  check "$vm: still pending (Applied not True, with a reason)" tjq \
    '.conditions[] | select(.type=="Applied") | .status != "True" and (.reason | length > 0)' "$V/$vm/status.json"
done
check "power on a VM of the frozen host returns" timeout 10 sh -c "echo resume > '$V/grp-1/power'"
check_eq "... the spec follows at once" running "$(timeout 10 jq -r .state "$V/grp-1/spec.json")"
# Give beta's thread time to be back in a reconnect (which waits on the
# frozen daemon): the other host must not notice that either.
sleep 2
check "the tree still reads" timeout 10 bash -c \
  "find '$M' -path '$M/events' -prune -o -type f ! -name power -print0 | xargs -0 cat >/dev/null"
virsh -q -c "$URI_A" resume plain-a >/dev/null
check "alpha's events still arrive after the detection" wait_until 20 timeout 10 grep -qx running "$V/plain-a/state"

kill -CONT "$LV_PID_B"
check "beta reconnects" wait_until 45 tjq '.connected == true' "$M/hosts/beta/info.json"
check "pend-1 converges" wait_until 30 insync pend-1
check "pend-2 converges" wait_until 30 insync pend-2
check_eq "virsh: pend-1 runs on beta" running "$(domstate "$URI_B" pend-1)"
check_eq "virsh: pend-2 runs on beta" running "$(domstate "$URI_B" pend-2)"
check_eq "... once each" "1 1" "$(virsh -c "$URI_B" list --all --name | grep -cx pend-1) $(virsh -c "$URI_B" list --all --name | grep -cx pend-2)"
check "grp-1 (beta) is resumed, as asked while it was frozen" wait_until 20 sh -c \
  "[ \"\$(virsh -c '$URI_B' domstate grp-1 | head -n1)\" = running ]"

check "unmount" wait_until 10 fusermount3 -u "$M"
finish
