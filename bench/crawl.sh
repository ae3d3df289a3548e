#!/usr/bin/env bash
# crawl.sh — vdcfs crawl benchmark: ours, the limit (tmpfs) and the peer
# (virsh), side by side in one run, with ratios.
#
#   sudo bench/crawl.sh                 # 4 hosts x 2500 VMs = 10,000 VMs
#   sudo HOSTS=2 VMS=200 bench/crawl.sh # a quick run
#
# Environment (all optional):
#   HOSTS=4 VMS=2500   datacenter size (hosts x VMs per host)
#   SAMPLE=200         VMs fetched with virsh; the peer's total is
#                      extrapolated linearly from this sample
#   RUNS=10            timed runs per fast measurement (median reported)
#   COLD_RUNS=5        timed runs of the cold crawl
#   PEER_RUNS=1        timed runs of the (slow) one-virsh-per-fact scripts
#   SESSION_RUNS=3     timed runs of the one-virsh-session-per-host script
#   REFRESH=30         vdcfs refresh_seconds
#   VDCFS=path         binary to use (default: build/vdcfs, built if needed)
#   NO_HYPERFINE=1     time with date +%s.%N even if hyperfine is installed
#   KEEP=1             keep the work directory (logs) on exit
#
# Needs root: a tmpfs mount, /proc/sys/vm/drop_caches, FUSE and libvirtd.
# Everything it starts (libvirtd, vdcfs, the tmpfs) is torn down on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

HOSTS=${HOSTS:-4}
VMS=${VMS:-2500}
SAMPLE=${SAMPLE:-200}
RUNS=${RUNS:-10}
COLD_RUNS=${COLD_RUNS:-5}
PEER_RUNS=${PEER_RUNS:-1}
SESSION_RUNS=${SESSION_RUNS:-3}
REFRESH=${REFRESH:-30}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-600}
TOTAL=$((HOSTS * VMS))

die() { echo "crawl.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# --- preconditions ------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root (tmpfs mount, drop_caches, FUSE, libvirtd)"
[ "$HOSTS" -ge 1 ] && [ "$VMS" -ge 1 ] || die "HOSTS and VMS must be >= 1"
[ "$SAMPLE" -gt "$TOTAL" ] && SAMPLE=$TOTAL
[ "$SAMPLE" -ge 1 ] || die "SAMPLE must be >= 1"

if [ -x "$ROOT/scripts/deps" ]; then
  "$ROOT/scripts/deps" >&2 || note "scripts/deps failed; checking tools anyway"
fi
missing=()
for t in python3 libvirtd virsh fusermount3 find xargs cat cp diff mount umount \
         unshare mountpoint awk sort getconf; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (Debian: libvirt-daemon libvirt-clients fuse3 util-linux procps python3)"
[ -e /dev/fuse ] || die "/dev/fuse is missing"
HAVE_HYPERFINE=0
[ "${NO_HYPERFINE:-0}" = 1 ] || ! command -v hyperfine >/dev/null 2>&1 || HAVE_HYPERFINE=1
[ $HAVE_HYPERFINE -eq 1 ] || note "timing with date +%s.%N, median of runs (hyperfine: apt-get install hyperfine)"

# --- build --------------------------------------------------------------

if [ -z "${VDCFS:-}" ]; then
  VDCFS=$ROOT/build/vdcfs
  command -v ninja >/dev/null 2>&1 || die "ninja is missing"
  if [ ! -f "$ROOT/build/build.ninja" ]; then
    command -v meson >/dev/null 2>&1 || die "meson is missing"
    meson setup "$ROOT/build" "$ROOT" >&2 || die "meson setup failed"
  fi
  if ! ninja -C "$ROOT/build" vdcfs >&2; then
    [ -x "$VDCFS" ] || die "build failed"
    note "build failed; measuring the existing $VDCFS"
  fi
fi
[ -x "$VDCFS" ] || die "no vdcfs binary at $VDCFS"

# --- work area and cleanup ----------------------------------------------

WORK=$(mktemp -d /tmp/vdcfs-bench.XXXXXX)
MNT=$WORK/mnt
LIM=$WORK/tmpfs
COPY=$LIM/dc
DC=$WORK/dc
LV=$WORK/libvirtd
mkdir -p "$MNT" "$LIM" "$DC" "$LV"
LIBVIRTD_PID=
VDCFS_PID=

cleanup() {
  set +e
  trap - EXIT INT TERM
  if [ -n "$VDCFS_PID" ]; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$VDCFS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$VDCFS_PID" 2>/dev/null
    wait "$VDCFS_PID" 2>/dev/null
  fi
  if [ -n "$LIBVIRTD_PID" ]; then
    kill "$LIBVIRTD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$LIBVIRTD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$LIBVIRTD_PID" 2>/dev/null
    wait "$LIBVIRTD_PID" 2>/dev/null
  fi
  mountpoint -q "$LIM" && umount "$LIM"
  if [ "${KEEP:-0}" = 1 ]; then
    note "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- timing -------------------------------------------------------------

# measure NAME WARMUP RUNS PREPARE LABEL CMD [LABEL CMD...]: times each
# CMD (a shell string) and leaves results in $WORK/NAME.json (hyperfine's
# format: results[].median/min/max in seconds).  PREPARE ("" for none)
# runs before every timed run, untimed.
measure() {
  local name=$1 warmup=$2 runs=$3 prepare=$4; shift 4
  local json=$WORK/$name.json labels=() cmds=()
  while [ $# -ge 2 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  if [ $HAVE_HYPERFINE -eq 1 ]; then
    local args=(--style basic --warmup "$warmup" --runs "$runs" --export-json "$json")
    [ -n "$prepare" ] && args+=(--prepare "$prepare")
    local i
    for i in "${!cmds[@]}"; do args+=(-n "${labels[$i]}"); done
    hyperfine "${args[@]}" "${cmds[@]}" >&2
    return
  fi
  # Without hyperfine: date +%s.%N around each run, median of the runs.
  local k i t0 t1 m first=1
  printf '{"results":[' >"$json"
  for k in "${!cmds[@]}"; do
    for ((i = 0; i < warmup; i++)); do bash -c "${cmds[$k]}" >/dev/null; done
    local times=()
    for ((i = 0; i < runs; i++)); do
      [ -n "$prepare" ] && bash -c "$prepare"
      t0=$(date +%s.%N)
      bash -c "${cmds[$k]}" >/dev/null
      t1=$(date +%s.%N)
      times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}')")
    done
    m=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ t[NR] = $1 }
      END { printf "%f %f %f", NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2, t[1], t[NR] }')
    [ $first -eq 1 ] || printf ',' >>"$json"
    first=0
    set -- $m
    printf '{"command":"%s","median":%s,"min":%s,"max":%s}' "${labels[$k]}" "$1" "$2" "$3" >>"$json"
    echo "${labels[$k]}: median $1 s (min $2, max $3; $runs runs)" >&2
  done
  printf ']}\n' >>"$json"
}

# med NAME INDEX: the median (seconds) of command INDEX of measurement NAME.
med() {
  python3 -c 'import json,sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' \
    "$WORK/$1.json" "$2"
}

# calc EXPR: floating-point arithmetic (awk), e.g. calc "$a / $b".
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

now() { date +%s.%N; }

# --- the datacenter -----------------------------------------------------

note "generating $HOSTS hosts x $VMS VMs in $DC"
python3 "$HERE/gen_dc.py" --hosts "$HOSTS" --vms "$VMS" --out "$DC" >/dev/null

id libvirt-qemu >/dev/null 2>&1 || useradd -r libvirt-qemu

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat >"$LV/libvirtd.conf" <<CONF
listen_tcp = 1
listen_tls = 0
auth_tcp = "none"
listen_addr = "127.0.0.1"
tcp_port = "$PORT"
unix_sock_dir = "$LV"
log_outputs = "3:file:$LV/libvirtd.log"
CONF
note "starting libvirtd on 127.0.0.1:$PORT"
# A root libvirtd locks its drivers' pid files under /run/libvirt, so a
# second one on the machine (a test's, a system one) refuses to start.
# Ours gets a private /run/libvirt in its own mount namespace; unshare
# and sh exec, so $! is libvirtd itself.
mkdir -p /run/libvirt
unshare --mount --propagation private \
  sh -c 'mount -t tmpfs vdcfs-bench-run /run/libvirt && exec "$@"' sh \
  libvirtd --listen -f "$LV/libvirtd.conf" --pid-file "$LV/libvirtd.pid" >"$LV/stdout" 2>&1 &
LIBVIRTD_PID=$!
for _ in $(seq 300); do
  virsh -q -c "test+tcp://127.0.0.1:$PORT/default" list >/dev/null 2>&1 && break
  kill -0 "$LIBVIRTD_PID" 2>/dev/null || { cat "$LV/stdout" >&2; die "libvirtd exited"; }
  sleep 0.1
done
virsh -q -c "test+tcp://127.0.0.1:$PORT/default" list >/dev/null 2>&1 \
  || { cat "$LV/stdout" >&2; die "libvirtd did not answer"; }

uri_of() { echo "test+tcp://127.0.0.1:$PORT$DC/h$1.xml"; }

python3 - "$WORK/vdcfs.json" "$HOSTS" "$PORT" "$DC" "$REFRESH" <<'PY'
import json, sys
out, hosts, port, dc, refresh = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
cfg = {"hosts": [{"name": f"h{i}", "uri": f"test+tcp://127.0.0.1:{port}{dc}/h{i}.xml"}
                 for i in range(1, hosts + 1)],
       "refresh_seconds": refresh}
json.dump(cfg, open(out, "w"), indent=2)
PY

# --- mount and load -----------------------------------------------------

count_vms() { ls -A "$MNT/vms" 2>/dev/null | wc -l; }

note "mounting vdcfs on $MNT"
T_START=$(now)
"$VDCFS" --config "$WORK/vdcfs.json" -f "$MNT" >"$WORK/vdcfs.log" 2>&1 &
VDCFS_PID=$!
for _ in $(seq 300); do
  mountpoint -q "$MNT" && break
  kill -0 "$VDCFS_PID" 2>/dev/null || { cat "$WORK/vdcfs.log" >&2; die "vdcfs exited"; }
  sleep 0.1
done
T_MOUNTED=$(now)
deadline=$((SECONDS + LOAD_TIMEOUT))
while [ "$(count_vms)" -lt "$TOTAL" ]; do
  [ $SECONDS -lt $deadline ] || die "only $(count_vms) of $TOTAL VMs after ${LOAD_TIMEOUT}s"
  kill -0 "$VDCFS_PID" 2>/dev/null || { cat "$WORK/vdcfs.log" >&2; die "vdcfs exited"; }
  sleep 0.2
done
T_LOADED=$(now)
MOUNT_S=$(calc "$T_MOUNTED - $T_START")
LOAD_S=$(calc "$T_LOADED - $T_START")
RSS_LOADED_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$VDCFS_PID/status")
note "mounted after ${MOUNT_S}s, all $TOTAL VMs visible after ${LOAD_S}s"

# --- the limit: the same tree on tmpfs ----------------------------------

mount -t tmpfs -o size=2g,mode=0755 vdcfs-bench-tmpfs "$LIM"
mkdir "$COPY"
note "copying the tree (without events) to tmpfs"
t0=$(now)
shopt -s dotglob nullglob
for e in "$MNT"/*; do
  [ "${e##*/}" = events ] && continue
  cp -a "$e" "$COPY/" 2>>"$WORK/cp.log" || die "cp -a $e failed: $(tail -3 "$WORK/cp.log")"
done
shopt -u dotglob nullglob
COPY_S=$(calc "$(now) - $t0")

# The copy must be the same tree, or the comparison means nothing.
files_of() { find "$1" -path "$1/events" -prune -o -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}'; }
read -r N_FILES N_BYTES < <(files_of "$MNT")
read -r C_FILES C_BYTES < <(files_of "$COPY")
[ "$N_FILES $N_BYTES" = "$C_FILES $C_BYTES" ] \
  || die "tmpfs copy differs: mount $N_FILES files/$N_BYTES B, copy $C_FILES files/$C_BYTES B"
for e in "$COPY"/*; do
  diff -r --no-dereference "$MNT/${e##*/}" "$e" >/dev/null || die "tmpfs copy differs under ${e##*/}"
done
note "tree: $N_FILES files, $N_BYTES bytes (same on the mount and on tmpfs)"

# --- ours vs the limit ----------------------------------------------------

crawl_cmd() { echo "find $1 -path $1/events -prune -o -type f -print0 | xargs -0 cat >/dev/null"; }
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
cpu_ticks() { awk '{print $14 + $15}' "/proc/$VDCFS_PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)

note "ls -l vms/ (warm): mount vs tmpfs"
measure ls 3 "$RUNS" "" \
  "ls -l vms/ on vdcfs" "ls -l $MNT/vms >/dev/null" \
  "ls -l vms/ on tmpfs" "ls -l $COPY/vms >/dev/null"

note "full crawl, cold (kernel caches dropped before each run): mount"
measure cold 0 "$COLD_RUNS" "$DROP" "cold crawl of vdcfs" "$(crawl_cmd "$MNT")"

note "full crawl, warm: mount vs tmpfs"
ticks0=$(cpu_ticks)
measure warm 2 "$RUNS" "" \
  "warm crawl of vdcfs" "$(crawl_cmd "$MNT")" \
  "warm crawl of tmpfs" "$(crawl_cmd "$COPY")"
WARM_CPU_MS=$(calc "($(cpu_ticks) - $ticks0) * 1000 / $CLK_TCK / (2 + $RUNS)")

# --- the peer: virsh ----------------------------------------------------
#
# What the crawl shows of a VM is its state and its domain XML (status.json
# is made from the two), plus the VM list of every host.  A virsh script
# gets them in one of two ways:
#   per fact:  one virsh process (one connection) per fact, as a shell
#              loop over `virsh list` does: timed on a sample of $SAMPLE VMs
#              and extrapolated linearly;
#   per host:  one virsh process per host reading all its commands on
#              stdin (one connection): timed in full, no extrapolation.
# With the test driver, opening a connection to a host file makes libvirtd
# parse that file (all its VMs), far dearer than connecting to a real
# libvirtd, so the per-fact script is also timed against /default (one
# small domain, "test"): that is the price of a virsh process per fact
# when connecting is cheap.
DEFAULT_URI=test+tcp://127.0.0.1:$PORT/default

# A sample spread evenly over the hosts (round robin) and over the VMs of
# each: "HOST_INDEX VM_NAME" lines.
python3 - "$HOSTS" "$VMS" "$SAMPLE" >"$WORK/sample" <<'PY'
import sys
hosts, vms, sample = map(int, sys.argv[1:])
per_host = -(-sample // hosts)
for k in range(sample):
    h, j = k % hosts + 1, k // hosts
    i = 1 + j * vms // per_host
    print(h, f"vm-h{h}-{i:05d}")
PY

# Listing the VMs of every host, one virsh each (both per-fact variants).
{
  echo "set -e"
  for h in $(seq "$HOSTS"); do echo "virsh -q -c $(uri_of "$h") list --all --name >/dev/null"; done
} >"$WORK/peer_list.sh"
# Per fact, on the host files.
{
  echo "set -e"
  while read -r h name; do
    echo "virsh -q -c $(uri_of "$h") domstate $name >/dev/null"
    echo "virsh -q -c $(uri_of "$h") dumpxml $name >/dev/null"
  done <"$WORK/sample"
} >"$WORK/peer_proc.sh"
# Per fact, cheap connections: as many calls, on /default's domain.
{
  echo "set -e"
  for ((k = 0; k < SAMPLE; k++)); do
    echo "virsh -q -c $DEFAULT_URI domstate test >/dev/null"
    echo "virsh -q -c $DEFAULT_URI dumpxml test >/dev/null"
  done
} >"$WORK/peer_cheap.sh"
# Per host: every VM of every host, one session each.
{
  echo "set -e"
  for h in $(seq "$HOSTS"); do
    awk -v h="$h" -v n="$VMS" 'BEGIN {
      print "list --all --name"
      for (i = 1; i <= n; i++) {
        name = sprintf("vm-h%d-%05d", h, i)
        print "domstate " name; print "dumpxml " name
      }
    }' >"$WORK/session_h$h.cmds"
    echo "virsh -q -c $(uri_of "$h") <$WORK/session_h$h.cmds >/dev/null"
  done
} >"$WORK/peer_session.sh"

note "peer: virsh list of every host; a connection alone"
measure peer_list 1 3 "" \
  "virsh list --all --name, every host" "bash $WORK/peer_list.sh" \
  "virsh uri (connect only), a host file" "virsh -q -c $(uri_of 1) uri >/dev/null" \
  "virsh uri (connect only), /default" "virsh -q -c $DEFAULT_URI uri >/dev/null"
note "peer: virsh domstate + dumpxml, one process per fact, $SAMPLE VMs"
measure peer 0 "$PEER_RUNS" "" \
  "virsh per fact, $SAMPLE VMs on host files" "bash $WORK/peer_proc.sh" \
  "virsh per fact, $SAMPLE x on /default" "bash $WORK/peer_cheap.sh"
note "peer: virsh list + domstate + dumpxml of all $TOTAL VMs, one session per host"
measure session 0 "$SESSION_RUNS" "" "virsh session per host, all VMs" "bash $WORK/peer_session.sh"

# --- memory -------------------------------------------------------------

HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$VDCFS_PID/status")
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$VDCFS_PID/status")
ANON_KB=$(awk '/^Anonymous:/ {print $2}' "/proc/$VDCFS_PID/smaps_rollup")
VDCFS_CPU_S=$(calc "$(cpu_ticks) / $CLK_TCK")
RUN_S=$(calc "$(now) - $T_START")

# --- the table ----------------------------------------------------------

LS_OURS=$(med ls 0); LS_LIM=$(med ls 1)
COLD=$(med cold 0)
WARM=$(med warm 0); WARM_LIM=$(med warm 1)
LIST=$(med peer_list 0); CONNECT=$(med peer_list 1); CONNECT_DEFAULT=$(med peer_list 2)
PROC_SAMPLE=$(med peer 0); CHEAP_SAMPLE=$(med peer 1)
PEER_SESS=$(med session 0)
# Per fact: the host lists, then two processes per VM.
PEER_PROC=$(calc "$LIST + $PROC_SAMPLE * $TOTAL / $SAMPLE")
# The same at the price of a cheap connection, lists included.
PEER_CHEAP=$(calc "$CHEAP_SAMPLE / (2 * $SAMPLE) * ($HOSTS + 2 * $TOTAL)")

fmt_t() { # seconds -> human
  awk -v t="$1" 'BEGIN { if (t < 1) printf "%.1f ms", t * 1000; else printf "%.2f s", t }'
}
row() { printf '%-30s %10s %12s %8s  %s\n' "$@"; }
ratio() { calc "$1 / $2" | awk '{printf "%.2f", $1}'; }
xratio() { calc "$1 / $2" | awk '{ if ($1 >= 100) printf "%.0fx", $1; else printf "%.1fx", $1 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

cat <<EOF

vdcfs crawl benchmark — $(date -u +%Y-%m-%dT%H:%MZ)
machine: $(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)
software: $("$VDCFS" --version 2>/dev/null | head -1), $([ $HAVE_HYPERFINE = 1 ] && hyperfine --version || echo "timed with date +%s.%N")
datacenter: $HOSTS hosts x $VMS VMs = $TOTAL VMs (libvirt test driver, one libvirtd over TCP), refresh_seconds $REFRESH
tree: $N_FILES files, $N_BYTES bytes (events excluded)
medians of $RUNS runs (cold crawl $COLD_RUNS, virsh per fact $PEER_RUNS, virsh per host $SESSION_RUNS)

EOF
row "measurement" "ours" "other" "ratio" "other side; ratio"
row "------------------------------" "----------" "------------" "--------" "------------------"
row "ls -l vms/, warm" "$(fmt_t "$LS_OURS")" "$(fmt_t "$LS_LIM")" "$(ratio "$LS_OURS" "$LS_LIM")" "tmpfs copy; ours/tmpfs"
row "crawl, warm" "$(fmt_t "$WARM")" "$(fmt_t "$WARM_LIM")" "$(ratio "$WARM" "$WARM_LIM")" "tmpfs copy; ours/tmpfs"
row "crawl, cold" "$(fmt_t "$COLD")" "$(fmt_t "$WARM_LIM")" "$(ratio "$COLD" "$WARM_LIM")" "tmpfs copy (warm); ours/tmpfs"
row "crawl, cold" "$(fmt_t "$COLD")" "$(fmt_t "$PEER_PROC")" "$(xratio "$PEER_PROC" "$COLD")" "virsh per fact, host files (extrap.); virsh/ours"
row "crawl, cold" "$(fmt_t "$COLD")" "$(fmt_t "$PEER_CHEAP")" "$(xratio "$PEER_CHEAP" "$COLD")" "virsh per fact, cheap connect (extrap.); virsh/ours"
row "crawl, cold" "$(fmt_t "$COLD")" "$(fmt_t "$PEER_SESS")" "$(xratio "$PEER_SESS" "$COLD")" "virsh session per host (all VMs); virsh/ours"
row "crawl, warm" "$(fmt_t "$WARM")" "$(fmt_t "$PEER_SESS")" "$(xratio "$PEER_SESS" "$WARM")" "virsh session per host (all VMs); virsh/ours"
cat <<EOF

ls -l vms/ / tmpfs = $(ratio "$LS_OURS" "$LS_LIM")
warm crawl / tmpfs = $(ratio "$WARM" "$WARM_LIM") (target <= 2.0)
cold crawl / tmpfs = $(ratio "$COLD" "$WARM_LIM")
peer/ours, virsh one process per fact / cold crawl = $(xratio "$PEER_PROC" "$COLD") on host files, $(xratio "$PEER_CHEAP" "$COLD") at cheap-connection price (extrapolated from $SAMPLE VMs)
peer/ours, virsh one process per fact / warm crawl = $(xratio "$PEER_PROC" "$WARM") on host files, $(xratio "$PEER_CHEAP" "$WARM") at cheap-connection price (extrapolated from $SAMPLE VMs)
peer/ours, virsh one session per host / cold crawl = $(xratio "$PEER_SESS" "$COLD") (measured on all $TOTAL VMs)
peer/ours, virsh one session per host / warm crawl = $(xratio "$PEER_SESS" "$WARM") (measured on all $TOTAL VMs)
RSS = $(mib "$HWM_KB") MiB peak (VmHWM), $(mib "$RSS_KB") MiB now, $(mib "$RSS_LOADED_KB") MiB right after loading, for $TOTAL VMs (target <= 40 MiB for 10,000 VMs)
      of which anonymous now: $(mib "$ANON_KB") MiB; the rest is mostly shared-library text

notes:
- virsh per fact = the $HOSTS host lists ($(fmt_t "$LIST")) plus two virsh processes
  (domstate, dumpxml) per VM, timed on $SAMPLE VMs ($(fmt_t "$PROC_SAMPLE")) and extrapolated
  linearly to $TOTAL VMs.  A connection to a host file costs $(fmt_t "$CONNECT") because
  the test driver parses the file ($VMS VMs) for every connection; one to
  /default costs $(fmt_t "$CONNECT_DEFAULT").  "Cheap connect" is the same script run against
  /default's one domain ($(fmt_t "$CHEAP_SAMPLE") for $((2 * SAMPLE)) processes), extrapolated to
  $((HOSTS + 2 * TOTAL)) processes: the fairer figure for a real libvirtd.
  virsh per host = one virsh per host reading list + domstate + dumpxml of
  all its VMs on stdin, measured in full.
- cold: 'echo 3 > /proc/sys/vm/drop_caches' before each run empties the
  kernel's FUSE dentry, attribute and page caches, so every lookup, open
  and read reaches the daemon.
- daemon CPU per warm crawl: $(awk -v v="$WARM_CPU_MS" 'BEGIN {printf "%.0f", v}') ms (utime+stime of vdcfs over the warm runs,
  including any periodic refresh that fell in them).
- vdcfs CPU over the whole run: $(fmt_t "$VDCFS_CPU_S") in $(fmt_t "$RUN_S") since start (loading, crawls and
  the full refresh every ${REFRESH}s).
- mount ready after $(fmt_t "$MOUNT_S"); all $TOTAL VMs visible after $(fmt_t "$LOAD_S");
  cp -a of the tree from the mount to tmpfs took $(fmt_t "$COPY_S").
EOF
