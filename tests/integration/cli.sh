#!/usr/bin/env bash
# The command line: --help, --version, bad configs, bad mount points,
# unreachable hosts, detaching only once the mount is ready, clean exit
# on SIGTERM and SIGINT.
source "$(dirname "$0")/lib.sh"

# expect_fail DESCRIPTION PATTERN COMMAND...: non-zero exit and one clear
# line on stderr that matches PATTERN.
expect_fail() {
  local what=$1 pattern=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 0 ]; then fail "$what: exited 0"; return; fi
  if ! grep -qE "$pattern" <<<"$err"; then fail "$what: stderr was [$err]"; return; fi
  if [ "$(grep -c . <<<"$err")" -gt 1 ] && ! grep -q usage <<<"$err"; then
    fail "$what: more than one line: [$err]"; return
  fi
  pass "$what"
}

check "--help prints usage" bash -c "'$VDCFS' --help | grep -q 'usage: vdcfs'"
check "--version names the version" bash -c "'$VDCFS' --version | grep -qE '^vdcfs [0-9]+\.[0-9]+'"
mkdir -p "$T/m"

expect_fail "no mount point" "missing MOUNTPOINT" "$VDCFS" --demo
expect_fail "neither --config nor --demo" "exactly one of" "$VDCFS" "$T/m"
expect_fail "missing config file" "cannot read config.*nope.json" "$VDCFS" --config "$T/nope.json" "$T/m"

printf '{"hosts": [ {"name": "a", "uri": "test:///default"}, ]}' >"$T/bad.json"
expect_fail "malformed config names the line" "bad.json: line 1" "$VDCFS" --config "$T/bad.json" "$T/m"
printf '{\n "hosts": [{"name": "a", "uri": "test:///default"}],\n "colour": "blue"\n}' >"$T/unknown.json"
expect_fail "unknown key is named" 'unknown key "colour"' "$VDCFS" --config "$T/unknown.json" "$T/m"
printf '{"hosts": [{"name": "a", "uri": "test:///default", "port": 1}]}' >"$T/unknown2.json"
expect_fail "unknown key in a host is named" 'unknown key "port" in hosts\[0\]' "$VDCFS" --config "$T/unknown2.json" "$T/m"
printf '{"hosts": []}' >"$T/empty.json"
expect_fail "no host configured" "hosts.*empty" "$VDCFS" --config "$T/empty.json" "$T/m"
printf '{"hosts": [{"name": "../x", "uri": "test:///default"}]}' >"$T/badname.json"
expect_fail "invalid host name" 'host name "../x"' "$VDCFS" --config "$T/badname.json" "$T/m"

printf '{"hosts": [{"name": "a", "uri": "test:///default"}]}' >"$T/ok.json"
expect_fail "mount point that does not exist" "mount point .*/absent: No such file" "$VDCFS" --config "$T/ok.json" "$T/absent"
touch "$T/file"
expect_fail "mount point that is a file" "not a directory" "$VDCFS" --config "$T/ok.json" "$T/file"

# Detach only when ready: the very next command sees the tree.
mount_vdcfs "$T/m" --config "$T/ok.json"
check_eq "the next line sees the VMs" "test" "$(ls "$T/m/vms")"
expect_fail "mount point in use" "mount point .* is in use" "$VDCFS" --config "$T/ok.json" "$T/m"
check "SIGTERM unmounts cleanly" bash -c "kill -TERM $(vdcfs_pid "$T/m") && ! mountpoint -q '$T/m' || sleep 1; ! mountpoint -q '$T/m'"
check "the daemon is gone" wait_until 10 bash -c "! pgrep -f 'vdcfs.* $T/m\$' >/dev/null"

# -f stays in the foreground; SIGINT unmounts.
"$VDCFS" -f --config "$T/ok.json" "$T/m" &
fg_pid=$!
check "-f: the mount comes up" wait_until 10 test -e "$T/m/vms/test"
kill -INT $fg_pid
wait $fg_pid
check_eq "-f: SIGINT exits 0" 0 $?
check "-f: unmounted" bash -c "! mountpoint -q '$T/m'"

# A host that cannot be reached is not fatal: it shows as disconnected.
port=$(free_port)
printf '{"hosts": [{"name": "up", "uri": "test:///default"}, {"name": "down", "uri": "test+tcp://127.0.0.1:%s/default"}]}' "$port" >"$T/half.json"
mount_vdcfs "$T/m" --config "$T/half.json"
check "mount with an unreachable host succeeds" test -d "$T/m/hosts/down"
check_eq "unreachable host: connected false" false "$(jq .connected "$T/m/hosts/down/info.json")"
check "unreachable host: the error is shown" jqt '.error | test("connect")' "$T/m/hosts/down/info.json"
check_eq "the reachable host is fine" true "$(jq .connected "$T/m/hosts/up/info.json")"
fusermount3 -u "$T/m"

# -o passes FUSE options through; a bad one is refused.
expect_fail "bad FUSE option is named" "vdcfs: .*no_such_option" "$VDCFS" -f -o no_such_option --config "$T/ok.json" "$T/m"
"$VDCFS" -f -o no_such_option --config "$T/ok.json" "$T/m" 2>/dev/null
check_eq "bad FUSE option is a usage error (exit 2)" 2 $?
"$VDCFS" --config "$T/unknown.json" "$T/m" 2>/dev/null
check_eq "a bad config is a usage error (exit 2)" 2 $?
finish
