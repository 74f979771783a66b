#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# Lab guest scenario of bench/lab-detect.sh (run through tests/lab/run-lab.sh
# with --bin sanwatch --bin sanwatch-labprobe): BENCH_TRIALS times
#   offline sdb + a few direct reads on the map (dm-multipath fails the path
#   and sends PATH_FAILED) -> wait for path `failed`, map `degraded` and the
#   Alertmanager POST carrying the path alert -> reinstate -> wait for `ok`
#   and the resolving POST.
# Per trial one line, all stamps CLOCK_MONOTONIC ns of this guest:
#   LAB-TRIAL n=I kernel_uevent_ns= probe_uevent_ns= agent_uevent_ns=
#             path_failed_ns= map_degraded_ns= post_first_byte_ns=
#             post_seen_ns= post_clock= post_alerts= path_reason=
# kernel_uevent_ns: a kprobe on dm_send_uevents (tracefs, trace_clock mono,
# µs resolution): the kernel about to send the uevent; empty without kprobe
# events. probe_uevent_ns: sanwatch-labprobe's own NETLINK_KOBJECT_UEVENT
# listener (SCHED_FIFO); agent_uevent_ns: when sanwatch read the uevent
# (received_ns of its debug line); post_*: sanwatch-labprobe's HTTP sink
# standing in for Alertmanager (first_byte_ns is the kernel's receive stamp
# of the request).
# The host side (bench/labdetect.py) turns them into lags.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

: "${BENCH_TRIALS:=30}"
readonly EV=/tmp/sanwatch-events.jsonl
readonly UEV=/tmp/probe-uevents.log
readonly HTTP=/tmp/probe-http.log
readonly PORT_FILE=/tmp/probe-http.port
# Each probe stops by itself well after the guest's own deadline would.
: "${BENCH_PROBE_SECS:=900}"  # the probes stop by themselves; poweroff ends them sooner

readonly TRACE=/sys/kernel/tracing
# The kernel's own stamp of the uevent, free of any listener's wake-up delay.
start_kprobe() {
  KPROBE=0
  for _bsym in dm_send_uevents dm_mod:dm_send_uevents; do
    echo "p:sanwatch/dm_send_uevents $_bsym" 2>/dev/null >>"$TRACE/kprobe_events" && KPROBE=1 && break
  done
  if [ "$KPROBE" = 1 ] && echo mono >"$TRACE/trace_clock" &&
    echo 1 >"$TRACE/events/sanwatch/dm_send_uevents/enable" && echo 1 >"$TRACE/tracing_on"; then
    lab_log "kprobe on dm_send_uevents, trace_clock mono"
  else
    KPROBE=0
    lab_log "no kprobe events: the kernel's uevent time comes from the probe listener only"
  fi
}
# kernel_uevent_ns: the first dm_send_uevents since the trace was cleared.
kernel_uevent_ns() {
  [ "$KPROBE" = 1 ] || return 0
  grep ' dm_send_uevents: ' "$TRACE/trace" | head -n 1 |
    sed -n 's/.* \([0-9]*\.[0-9]*\): dm_send_uevents: .*/\1/p' | awk '{ printf "%.0f", $1 * 1e9 }'
}

start_probes() {
  sanwatch-labprobe uevents --timeout "$BENCH_PROBE_SECS" >"$UEV" 2>/tmp/probe-uevents.err &
  sanwatch-labprobe http --port-file "$PORT_FILE" --timeout "$BENCH_PROBE_SECS" >"$HTTP" 2>/tmp/probe-http.err &
  lab_assert "uevent probe is listening" lab_wait_for 20 grep -q UEVENT-READY "$UEV"
  lab_assert "HTTP probe is listening" lab_wait_for 20 test -s "$PORT_FILE"
  lab_log "probes: $(cat /tmp/probe-uevents.err /tmp/probe-http.err 2>/dev/null | head -n 2)"
}

# Canaries on, as deployed, at 250 ms; recovery short and flapping out of
# reach so every trial is one ok -> failed -> ok cycle; resend far away so
# the only POSTs are the state changes. 127.0.0.1, not localhost: no resolver.
start_agent() {
  cat >/tmp/sanwatch.toml <<TOML
log_level = "debug"
[thresholds]
recovery = "200ms"
flap_count = 1000
flap_window = "1s"
[canary]
targets = "multipath"
period = "250ms"
deadline = "200ms"
[metrics]
listen = "127.0.0.1:0"
[alerts]
alertmanager_urls = ["http://127.0.0.1:$(cat "$PORT_FILE")"]
resend = "1h"
TOML
  sanwatch run --config /tmp/sanwatch.toml 2>"$EV" &
  SANWATCH_PID=$!
  lab_wait_for 60 grep -q '"msg":"ready"' "$EV" || { tail -n 20 "$EV"; lab_fail "sanwatch is not ready"; }
}

lines() { wc -l <"$1"; }
after() { tail -n +"$(($2 + 1))" "$1"; }  # after FILE MARK: the lines added since MARK
state_line() {                           # state_line MARK TARGET TO
  after "$EV" "$1" | grep '"event":"state"' | grep "\"target\":\"$2\"" | grep "\"to\":\"$3\"" | head -n 1
}
has_state() { [ -n "$(state_line "$@")" ]; }
post_line() { after "$HTTP" "$1" | grep "alerts=.*SanwatchPathFailed:$2" | head -n 1; }
has_post() { [ -n "$(post_line "$@")" ]; }
has_agent_uevent() { after "$EV" "$1" | grep -q '"msg":"uevent PATH_FAILED"'; }
has_probe_uevent() { after "$UEV" "$1" | grep -q 'dm_action=PATH_FAILED'; }
num() { echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }  # JSON integer field
word() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }      # KEY=VALUE word

# Variables start with _b: guest-lib.sh's helpers use _i, _secs... as globals.
wait_or_fail() {  # wait_or_fail SECONDS WHAT COMMAND...
  _bsecs=$1 _bwhat=$2
  shift 2
  lab_wait_for "$_bsecs" "$@" || { tail -n 20 "$EV"; tail -n 5 "$HTTP"; lab_fail "trial $_bn: no $_bwhat"; }
}

trial() {
  _bn=$1 _bm=$(lines "$EV") _bu=$(lines "$UEV") _bh=$(lines "$HTTP")
  [ "$KPROBE" = 1 ] && : >"$TRACE/trace"
  echo offline >/sys/block/sdb/device/state || lab_fail "cannot offline sdb"
  # Round-robin, repeat 1: half of these go to sdb, the first fails the path.
  lab_dd_read "$LAB_DM" 4 || lab_fail "reads on $LAB_DM failed"
  # Poll only once the agent had its chance: the polling competes for the CPUs.
  sleep 0.3
  wait_or_fail 10 "path failed" has_state "$_bm" sdb failed
  wait_or_fail 10 "map degraded" has_state "$_bm" "$LAB_MAP" degraded
  wait_or_fail 10 "firing POST" has_post "$_bh" firing
  wait_or_fail 5 "probe uevent" has_probe_uevent "$_bu"
  wait_or_fail 5 "agent uevent line" has_agent_uevent "$_bm"
  _bue=$(after "$EV" "$_bm" | grep '"msg":"uevent PATH_FAILED"' | head -n 1)
  _bpf=$(state_line "$_bm" sdb failed)
  _bmd=$(state_line "$_bm" "$LAB_MAP" degraded)
  _bpost=$(post_line "$_bh" firing)
  _bpu=$(after "$UEV" "$_bu" | grep 'dm_action=PATH_FAILED' | head -n 1)
  echo "LAB-TRIAL n=$_bn kernel_uevent_ns=$(kernel_uevent_ns) probe_uevent_ns=$(word "$_bpu" recv_ns) agent_uevent_ns=$(num "$_bue" received_ns)" \
    "path_failed_ns=$(num "$_bpf" mono_ns) map_degraded_ns=$(num "$_bmd" mono_ns)" \
    "post_first_byte_ns=$(word "$_bpost" first_byte_ns) post_seen_ns=$(word "$_bpost" seen_ns)" \
    "post_clock=$(word "$_bpost" clock) post_alerts=$(word "$_bpost" alerts)" \
    "path_reason=$(echo "$_bpf" | sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' | tr ' ' '~')"
  _bm=$(lines "$EV") _bh=$(lines "$HTTP")
  lab_path_online sdb >/dev/null
  wait_or_fail 15 "path ok" has_state "$_bm" sdb ok
  wait_or_fail 15 "map ok" has_state "$_bm" "$LAB_MAP" ok
  wait_or_fail 10 "resolving POST" has_post "$_bh" resolved
}

lab_setup_mpath
start_kprobe
start_probes
start_agent
lab_log "$BENCH_TRIALS trials"
_btrial=1
while [ "$_btrial" -le "$BENCH_TRIALS" ]; do
  trial "$_btrial"
  _btrial=$((_btrial + 1))
done
kill -TERM "$SANWATCH_PID"
lab_wait_for 10 eval "! kill -0 $SANWATCH_PID 2>/dev/null" || lab_fail "sanwatch did not stop"
wait "$SANWATCH_PID"
lab_assert_eq "sanwatch exit status" 0 "$?"
echo "LAB-METRIC trials=$BENCH_TRIALS state_changes=$(grep -c '"event":"state"' "$EV")" \
  "posts=$(lines "$HTTP") probe_uevents=$(grep -c dm_action=PATH_FAILED "$UEV")"
# Diagnostics: BENCH_DUMP=1 (first line of the scenario) copies the agent's
# event log to the console.
[ "${BENCH_DUMP:-0}" = 1 ] && sed 's/^/EVLOG /' "$EV"
true
