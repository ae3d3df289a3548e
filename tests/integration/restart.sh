#!/usr/bin/env bash
# Nothing a user wrote is lost (issue 4): kill -9 the daemon after and
# while specs are written; after a restart every accepted spec is there,
# no VM is defined twice, and everything converges — including the
# in-process test host, which forgets all its VMs when the daemon dies.
# Then 16 writers at once with a crawl, and two writers on one spec.
source "$(dirname "$0")/lib.sh"

start_libvirtd A || { fail "libvirtd"; finish; }
keep_default_open A
URI_A="test+tcp://127.0.0.1:$LV_PORT_A/default"
cat >"$T/dc.json" <<JSON
{"state_dir": "$T/state", "refresh_seconds": 3600,
 "hosts": [{"name": "alpha", "uri": "$URI_A"}, {"name": "local", "uri": "test:///default"}]}
JSON
M=$T/dc
V=$M/vms
mount_vdcfs "$M" --config "$T/dc.json" || { fail "mount"; finish; }

insync() { jqt '.conditions[] | select(.type=="InSync") | .status=="True"' "$V/$1/status.json"; }
all_insync() { local v; for v in "$@"; do insync "$v" || return 1; done; }
spec() { printf '{"host": "%s", "vcpus": %d, "memory_mib": 64, "description": "%s"}\n' "$1" "$2" "${3:-}"; }
restart() {
  kill -9 "$(vdcfs_pid "$M")" 2>/dev/null
  fusermount3 -u -z "$M" 2>/dev/null
  sleep 0.3
  "$VDCFS" --config "$T/dc.json" "$M"
}
no_duplicates() { [ -z "$(virsh -q -c "$URI_A" list --all --name | sort | uniq -d)" ]; }

# --- restart after specs were applied -----------------------------------------
names=()
for i in 1 2 3; do
  for h in local alpha; do
    n=keep-$h-$i; names+=("$n")
    mkdir "$V/$n" && spec $h $i >"$V/$n/spec.json"
  done
done
check "six VMs converge" wait_until 30 all_insync "${names[@]}"
declare -A uuid
for n in "${names[@]}"; do uuid[$n]=$(jq -r .uuid "$V/$n/status.json"); done
check "restart after kill -9" restart
check "every VM converges again" wait_until 30 all_insync "${names[@]}"
ok=1
for n in "${names[@]}"; do
  cmp -s "$V/$n/spec.json" "$T/state/vms/$n/spec.json" || ok=0
  [ "$(jq -r .uuid "$V/$n/status.json")" = "${uuid[$n]}" ] || ok=0
done
check "every spec and uuid is as before" test $ok = 1
check_eq "the in-process host re-created its VMs" running "$(cat "$V/keep-local-2/state")"
check "no VM defined twice on alpha" no_duplicates
check_eq "alpha has its three" 3 "$(virsh -q -c "$URI_A" list --all --name | grep -c '^keep-alpha-')"

# --- kill -9 while specs are being written ------------------------------------
: >"$T/accepted"
(
  for i in $(seq 0 299); do
    h=$([ $((i % 2)) = 0 ] && echo local || echo alpha)
    mkdir "$V/crash-$i" 2>/dev/null || continue
    spec $h 1 "written $i" >"$T/crash.json"
    cp "$T/crash.json" "$V/crash-$i/spec.json" 2>/dev/null && echo "crash-$i" >>"$T/accepted"
  done
) &
WRITER=$!
sleep 0.3
kill -9 "$(vdcfs_pid "$M")"
wait $WRITER
accepted=$(wc -l <"$T/accepted")
log "$accepted specs were accepted before the kill"
check "restart after a kill in the middle of writes" restart
ok=1
while read -r n; do
  [ -f "$V/$n/spec.json" ] && grep -q "written ${n#crash-}\"" "$V/$n/spec.json" || { ok=0; log "lost: $n"; }
done <"$T/accepted"
check "every accepted spec survived" test $ok = 1
torn=0
for f in "$T"/state/vms/*/spec.json; do jq -e . "$f" >/dev/null 2>&1 || { torn=1; log "torn: $f"; }; done
check "no torn spec in the state dir" test $torn = 0
check "no temporary files left in the state dir" test -z "$(find "$T/state" -name '.tmp-*')"
mapfile -t crashed < <(cat "$T/accepted")
check "the accepted ones converge" wait_until 60 all_insync "${crashed[@]}"
check "still no VM defined twice" no_duplicates

# --- 16 writers at once, and a crawl ---------------------------------------------
pids=()
(for _ in 1 2 3 4 5 6; do find "$M" -type f ! -name events ! -name power -print0 | xargs -0 cat >/dev/null 2>&1; done; echo done >"$T/crawl.done") &
CRAWL=$!
for w in $(seq 1 16); do
  (
    mkdir "$V/conc-$w" || exit 1
    for round in 1 2 3 4; do
      spec local 1 "writer $w round $round" >"$T/conc-$w.json"
      cp "$T/conc-$w.json" "$V/conc-$w/spec.json" || exit 1
    done
  ) &
  pids+=($!)
done
okw=1
for p in "${pids[@]}"; do wait "$p" || okw=0; done
wait $CRAWL
check "16 writers all succeed" test $okw = 1
check "the crawl ran alongside" test -f "$T/crawl.done"
conc=(); for w in $(seq 1 16); do conc+=("conc-$w"); done
check "all 16 converge" wait_until 60 all_insync "${conc[@]}"
for c in "${conc[@]}"; do insync "$c" || jq -c '[.name, .state, .spec_generation, .observed_generation, .conditions]' "$V/$c/status.json" | sed 's/^/#   /'; done
ok=1
for w in $(seq 1 16); do
  [ "$(jq -r .description "$V/conc-$w/spec.json")" = "writer $w round 4" ] || ok=0
  [ "$(jq -r .spec_generation "$V/conc-$w/status.json")" = 4 ] || ok=0
done
check "each has its writer's last spec, generation 4" test $ok = 1

# --- two writers on the same spec: the last close wins, atomically ----------------
mkdir "$V/shared"
spec local 1 "start" >"$V/shared/spec.json"
python3 - "$V/shared/spec.json" >"$T/race.out" <<'PY'
import json, os, sys, threading
path = sys.argv[1]
def spec(who):
    # a long description: the spec takes many write() calls
    return json.dumps({"host": "local", "vcpus": who, "memory_mib": 64,
                       "description": ("writer %d " % who) * 300}) + "\n"
bad = 0
for rnd in range(15):
    texts = {w: spec(w) for w in (1, 2)}
    def write(w):
        pid = os.fork()
        if pid == 0:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            data = texts[w].encode()
            for i in range(0, len(data), 256):
                os.write(fd, data[i:i + 256])
            os.close(fd)
            os._exit(0)
        return pid
    pids = [write(1), write(2)]
    for p in pids:
        os.waitpid(p, 0)
    got = open(path).read()
    if got not in texts.values():
        bad += 1
print("mixed:", bad)
PY
check_eq "every round ends with one writer's whole spec" "mixed: 0" "$(cat "$T/race.out")"
check "the state dir has the same" cmp -s "$V/shared/spec.json" "$T/state/vms/shared/spec.json"

finish
