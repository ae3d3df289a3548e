#!/usr/bin/env bash
# A cluster of two libvirtd daemons (libvirt's real RPC over TCP) and one
# in-process test host.  Changes made behind vdcfs's back with virsh show
# up in the tree and in /events without a remount, through libvirt's
# event API (the periodic refresh is set to an hour so it cannot help).
source "$(dirname "$0")/lib.sh"

start_two_hosts

# Populate: web-1 and db-1 on alpha, db-1 (same name) and batch-1 on beta.
for vm in web-1 db-1; do domain_xml $vm >"$T/$vm.xml"; virsh -q -c "$URI_A" define "$T/$vm.xml" >/dev/null; virsh -q -c "$URI_A" start $vm >/dev/null; done
for vm in db-1 batch-1; do domain_xml $vm >"$T/$vm.xml"; virsh -q -c "$URI_B" define "$T/$vm.xml" >/dev/null; done
virsh -q -c "$URI_B" start db-1 >/dev/null

cat >"$T/dc.json" <<JSON
{"refresh_seconds": 3600,
 "hosts": [{"name": "alpha", "uri": "$URI_A"},
           {"name": "beta", "uri": "$URI_B"},
           {"name": "local", "uri": "test:///default"}]}
JSON
M=$T/dc
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }

check_eq "hosts" "alpha beta local" "$(ls "$M/hosts" | xargs)"
check_eq "alpha connected over TCP" true "$(jq .connected "$M/hosts/alpha/info.json")"
check_eq "VMs of the cluster" "batch-1 db-1@alpha db-1@beta test@alpha test@beta test@local web-1" "$(ls "$M/vms" | xargs)"
check_eq "state from libvirtd" running "$(cat "$M/vms/web-1/state")"
check_eq "shut-off VM" shutoff "$(cat "$M/vms/batch-1/state")"
# virsh prints the XML and a newline of its own.
check "domain.xml is exactly virsh dumpxml" diff <(virsh -c "$URI_A" dumpxml web-1) <(cat "$M/vms/web-1/domain.xml"; echo)
check_eq "status.json uuid is the hypervisor's" "\"$(virsh -c "$URI_A" domuuid web-1 | head -n1)\"" "$(jq .uuid "$M/vms/web-1/status.json")"

# Followers of /events: tail -f, and a python program that polls.
tail -n0 -f "$M/events" >"$T/tail.out" &
TAIL=$!; track $TAIL
python3 - "$M/events" >"$T/poll.out" 2>&1 <<'PY' &
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
os.lseek(fd, 0, os.SEEK_END)          # only what happens from now on
print("at-end-read:%d" % len(os.read(fd, 4096)), flush=True)
p = select.poll()
p.register(fd, select.POLLIN)
deadline = time.time() + 120
empty = 0
while time.time() < deadline:
    if p.poll(1000):
        data = os.read(fd, 65536)
        if not data:
            empty += 1
            if empty == 50:
                print("SPIN: poll said readable 50 times with nothing to read", flush=True)
        sys.stdout.write(data.decode())
        sys.stdout.flush()
PY
POLLER=$!; track $POLLER
wait_until 10 grep -q at-end-read "$T/poll.out"

# Changes behind our back.
virsh -q -c "$URI_A" suspend web-1 >/dev/null
check "suspend shows in state" wait_until 10 grep -qx paused "$M/vms/web-1/state"
check_eq "and in status.json" '"paused"' "$(jq .state "$M/vms/web-1/status.json")"
check "grep -l paused finds it" bash -c "grep -l paused '$M'/vms/*/state | grep -q web-1"
check "suspended event for tail -f" wait_until 10 grep -q '"name":"web-1","host":"alpha","event":"suspended"' "$T/tail.out"
check "suspended event for a poll loop" wait_until 10 grep -q '"event":"suspended"' "$T/poll.out"
check_eq "a read at the end is end of file" "at-end-read:0" "$(head -n1 "$T/poll.out")"
check "the poll loop did not spin on end of file" bash -c "! grep -q SPIN '$T/poll.out'"
check "events are JSON with time, kind, name, host, event" bash -c \
  "grep suspended '$T/tail.out' | head -n1 | jq -e '(.time|test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$\")) and .kind==\"vm\" and .name==\"web-1\" and .host==\"alpha\" and .event==\"suspended\"' >/dev/null"

virsh -q -c "$URI_A" resume web-1 >/dev/null
check "resume shows" wait_until 10 grep -qx running "$M/vms/web-1/state"
check "resumed event" wait_until 10 grep -q '"name":"web-1","host":"alpha","event":"resumed"' "$T/tail.out"

virsh -q -c "$URI_B" destroy db-1 >/dev/null
check "destroy shows as shutoff" wait_until 10 grep -qx shutoff "$M/vms/db-1@beta/state"
check "stopped event" wait_until 10 grep -q '"name":"db-1","host":"beta","event":"stopped"' "$T/tail.out"
virsh -q -c "$URI_B" start batch-1 >/dev/null
check "start shows" wait_until 10 grep -qx running "$M/vms/batch-1/state"
check "started event" wait_until 10 grep -q '"name":"batch-1","host":"beta","event":"started"' "$T/tail.out"

# New and removed VMs, and names that become shared or unique.
domain_xml web-1 >"$T/web-1b.xml"
virsh -q -c "$URI_B" define "$T/web-1b.xml" >/dev/null
check "a VM defined on beta appears" wait_until 10 test -d "$M/vms/web-1@beta"
check "the name is now shared: web-1@alpha" test -d "$M/vms/web-1@alpha"
check "no plain web-1 any more" test ! -e "$M/vms/web-1"
check_eq "alpha's link follows the new name" "../../../vms/web-1@alpha" "$(readlink "$M/hosts/alpha/vms/web-1")"
check "defined event" wait_until 10 grep -q '"name":"web-1","host":"beta","event":"defined"' "$T/tail.out"
virsh -q -c "$URI_B" undefine web-1 >/dev/null
check "an undefined VM disappears" wait_until 10 test ! -e "$M/vms/web-1@beta"
check "the name is unique again" wait_until 10 test -d "$M/vms/web-1"
check "undefined event" wait_until 10 grep -q '"name":"web-1","host":"beta","event":"undefined"' "$T/tail.out"
check_eq "ls of the host's VMs" "batch-1 db-1 test" "$(ls "$M/hosts/beta/vms" | xargs)"

# Pools, and a change to one.
check "pools across the cluster" test -f "$M/pools/default-pool/info.json"
check_eq "each host's default pool" '["alpha","beta","local"]' "$(jq -c '.hosts|keys' "$M/pools/default-pool/info.json")"
cat >"$T/pool.xml" <<XML
<pool type='dir'><name>scratch</name><target><path>/scratch</path></target></pool>
XML
virsh -q -c "$URI_A" pool-define "$T/pool.xml" >/dev/null
check "a new pool appears (pool events)" wait_until 10 test -f "$M/hosts/alpha/pools/scratch/info.json"
check_eq "inactive" '"inactive"' "$(jq .state "$M/hosts/alpha/pools/scratch/info.json")"
virsh -q -c "$URI_A" pool-start scratch >/dev/null
check "pool start shows" wait_until 10 jqt '.state=="running"' "$M/hosts/alpha/pools/scratch/info.json"
check "cluster pool view" wait_until 10 jqt '.hosts.alpha.state=="running"' "$M/pools/scratch/info.json"

# Sizes are true after changes (the kernel's cached attributes were invalidated).
check_eq "stat size of a changed file" "$(cat "$M/vms/web-1/status.json" | wc -c)" "$(stat -c %s "$M/vms/web-1/status.json")"

# Tools that read to the end finish: the log ends where it ends.
check "cat of /events ends" timeout 10 bash -c "cat '$M/events' | grep -q suspended"
check "grep -r over the whole mount ends" timeout 20 bash -c "grep -r -l suspended '$M' | grep -q '^$M/events$'"
check "find | xargs cat over the whole mount ends" timeout 20 bash -c "find '$M' -type f -print0 | xargs -0 cat >/dev/null"
check "the size of /events is what it holds" test "$(stat -c %s "$M/events")" -ge "$(cat "$M/events" | wc -c)"
stop_tracked $TAIL $POLLER
check "unmount (once the killed readers are released)" wait_until 10 fusermount3 -u "$M"
finish
