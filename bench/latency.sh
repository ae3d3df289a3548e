#!/usr/bin/env bash
# latency.sh — how long a change made behind vdcfs's back (virsh suspend /
# resume on a libvirtd over TCP) takes to show in vms/<vm>/state.
#
#   sudo bench/latency.sh            # ROUNDS=20
#
# Prints, per direction, the median and worst time from the moment virsh
# returns (the hypervisor has made the change and sent its event) until
# the state file reads the new state, polling it every millisecond; and
# the same from before virsh starts (includes virsh's own connection).
# The periodic refresh is set to an hour, so only libvirt's events count.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
VDCFS=${VDCFS:-build/vdcfs}
[ -x "$VDCFS" ] || { scripts/deps >/dev/null; scripts/build build; }
VDCFS=$(readlink -f "$VDCFS")
export VDCFS
source tests/integration/lib.sh

start_libvirtd L >/dev/null
keep_default_open L
URI="test+tcp://127.0.0.1:$LV_PORT_L/default"
domain_xml lat-1 >"$T/lat-1.xml"
virsh -q -c "$URI" define "$T/lat-1.xml" >/dev/null
virsh -q -c "$URI" start lat-1 >/dev/null
printf '{"refresh_seconds": 3600, "hosts": [{"name": "h", "uri": "%s"}]}' "$URI" >"$T/c.json"
mount_vdcfs "$T/m" --config "$T/c.json"
STATE="$T/m/vms/lat-1/state"

now() { date +%s%N; }
wait_state() { while [ "$(cat "$STATE")" != "$1" ]; do sleep 0.001; done; }
after=() before=()
for i in $(seq "$ROUNDS"); do
  for step in "suspend paused" "resume running"; do
    set -- $step
    t0=$(now); virsh -q -c "$URI" "$1" lat-1 >/dev/null; t1=$(now)
    wait_state "$2"; t2=$(now)
    after+=($(( (t2 - t1) / 1000 ))); before+=($(( (t2 - t0) / 1000 )))
  done
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %.1f ms, worst %.1f ms (%d changes)", a[int((NR+1)/2)]/1000, a[NR]/1000, NR}'; }
echo "change -> state file, from virsh's return:  $(stats "${after[@]}")"
echo "change -> state file, from virsh's start:   $(stats "${before[@]}")"
finish >/dev/null
