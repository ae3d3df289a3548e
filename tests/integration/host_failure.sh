#!/usr/bin/env bash
# Hosts fail: one libvirtd is killed and later restarted, another one is
# frozen (SIGSTOP) so that it accepts connections but never answers.  The
# tree must stay fast, say which host is gone, and catch up by itself.
source "$(dirname "$0")/lib.sh"

start_two_hosts
populate() { # URI VM...
  local uri=$1 vm; shift
  for vm in "$@"; do
    domain_xml "$vm" >"$T/$vm.xml"
    virsh -q -c "$uri" define "$T/$vm.xml" >/dev/null && virsh -q -c "$uri" start "$vm" >/dev/null
  done
}
populate "$URI_A" a-1 a-2
populate "$URI_B" b-1 b-2

cat >"$T/dc.json" <<JSON
{"refresh_seconds": 3600,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}, {"name": "beta", "uri": "$URI_B"}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }
tail -n0 -f "$M/events" >"$T/events.out" &
TAIL=$!; track $TAIL
check_eq "both hosts connected" "true true" "$(jq .connected "$M"/hosts/*/info.json | xargs)"
check_eq "a-1 running" running "$(cat "$M/vms/a-1/state")"

# --- a host dies -------------------------------------------------------
kill -9 "$LV_PID_A"
check "the dead host shows connected: false" wait_until 20 jqt '.connected == false' "$M/hosts/alpha/info.json"
check "with the error" jqt '.error | length > 0' "$M/hosts/alpha/info.json"
check_eq "its VMs keep their last facts with state unknown" unknown "$(cat "$M/vms/a-1/state")"
check_eq "status.json says unknown too" '"unknown"' "$(jq .state "$M/vms/a-1/status.json")"
check_eq "and still knows where they were" '"alpha"' "$(jq .host "$M/vms/a-1/status.json")"
check_eq "the other host is unaffected" running "$(timeout 5 cat "$M/vms/b-1/state")"
check "a disconnected event" wait_until 10 grep -q '"kind":"host","name":"alpha","host":"alpha","event":"disconnected"' "$T/events.out"
check "the whole tree stays readable" timeout 10 bash -c "find '$M' -path '$M/events' -prune -o -type f -print0 | xargs -0 cat >/dev/null"

# --- it comes back (a fresh libvirtd: the test driver's state is new) --
start_libvirtd A "$LV_PORT_A" || fail "restart libvirtd A"
keep_default_open A
populate "$URI_A" a-1 a-3
check "vdcfs reconnects by itself" wait_until 30 jqt '.connected == true and .error == null' "$M/hosts/alpha/info.json"
check "the tree catches up: a-3 appears" wait_until 10 test -d "$M/vms/a-3"
check "a-2 is gone" wait_until 10 test ! -e "$M/vms/a-2"
check_eq "a-1 is running again" running "$(cat "$M/vms/a-1/state")"
check "a connected event" wait_until 10 grep -q '"kind":"host","name":"alpha","host":"alpha","event":"connected"' "$T/events.out"
check "events for what changed while it was away" wait_until 10 grep -q '"name":"a-2","host":"alpha","event":"undefined"' "$T/events.out"
virsh -q -c "$URI_A" suspend a-1 >/dev/null
check "events flow again after the reconnect" wait_until 10 grep -qx paused "$M/vms/a-1/state"

# --- a host hangs -------------------------------------------------------
kill -STOP "$LV_PID_B"
check_eq "reads do not wait on a frozen host" running "$(timeout 5 cat "$M/vms/b-1/state")"
check "ls of its VMs does not wait" timeout 5 bash -c "ls -l '$M/hosts/beta/vms/' >/dev/null"
check "a crawl does not wait" timeout 10 bash -c "find '$M' -path '$M/events' -prune -o -type f -print0 | xargs -0 cat >/dev/null"
check "the frozen host is detected (keepalive)" wait_until 40 jqt '.connected == false' "$M/hosts/beta/info.json"
check_eq "its VMs are unknown" unknown "$(timeout 5 cat "$M/vms/b-1/state")"
check_eq "the other host is fine" paused "$(timeout 5 cat "$M/vms/a-1/state")"
kill -CONT "$LV_PID_B"
check "it reconnects when it answers again" wait_until 40 jqt '.connected == true' "$M/hosts/beta/info.json"
check_eq "b-1 is known again" running "$(timeout 5 cat "$M/vms/b-1/state")"

stop_tracked $TAIL
check "unmount" wait_until 10 fusermount3 -u "$M"
finish
