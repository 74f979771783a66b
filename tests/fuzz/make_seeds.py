#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of tests/fuzz (checked in; rerun after changing it).

Seeds are small, real-shaped inputs: the shipped config, uevents as the
kernel sends them, DM_TABLE_STATUS replies, VPD pages from the fixture
trees, Prometheus API answers, ledger rows as docs/ledger.md has them, and
the reproducers of bugs found so far (named repro-*). The fuzzers' own
finds stay out of git.
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def config_seeds():
    put("config", "default.toml", (ROOT / "packaging/sanwatch.toml").read_text())
    put("config", "full.toml", """log_level = "debug"
[devices]
include = ["sd*", "dm-*", "wwid:360002ac0000000000000000000001234", "/dev/mapper/mpatha"]
exclude = ["sda"]
rescan = "10s"
[thresholds]
slow_io = "50ms"
slow_share = 0.25
slow_min_ios = 20
slow_window = "10s"
stall = "2s"
fail_errors = 3
canary_failures = 2
recovery = "30s"
flap_count = 4
flap_window = "5m"
[canary]
enabled = true
targets = "all"
period = "1s"
deadline = "500ms"
size = 4096
region_offset = 0
region_length = 1048576
[metrics]
listen = "127.0.0.1:9847"
path_histograms = true
refresh = "1s"
[ledger]
path = "/var/lib/sanwatch/ledger.db"
retention = "400d"
latency_slos = ["10ms", "100ms"]
[baseline]
factor = 2.5
window = "1h"
[alerts]
alertmanager_urls = ["http://am1:9093", "http://am2:9093"]
resend = "1m"
exec = ["/usr/local/bin/page", "--now"]
[alerts.labels]
team = "dba"
[[override]]
match = ["mpath*"]
slow_io = "20ms"
slow_share = 0.5
canary = false
array_vendor = "3PARdata"
array_product = "VV"
array_id = "2ff70002ac012345"
""")
    # Reproducers of the issue-15 findings: toml++ UB and asserts, NaN, escaping.
    put("config", "repro-toml-nonascii-after-header.toml", "[a]\n\u00e9")
    put("config", "repro-toml-nonascii-after-value.toml", "[devices]\nrescan = \"5s\" \u00e9\n")
    put("config", "repro-toml-brace-header.toml", "[{")
    put("config", "repro-nan.toml", "[thresholds]\nslow_share = nan\n")
    put("config", "repro-override-inf.toml", "[[override]]\nmatch = [\"sd*\"]\nslow_share = inf\n")
    put("config", "repro-listen-quote.toml", "[metrics]\nlisten = \"a\\\"b:80\"\n")


def wire(fields):
    return b"\0".join(f.encode() for f in fields) + b"\0"


def uevent_seeds():
    dm = "/devices/virtual/block/dm-0"
    put("uevent", "dm-path-failed", wire([
        "change@" + dm, "ACTION=change", "DEVPATH=" + dm, "SUBSYSTEM=block",
        "DM_TARGET=multipath", "DM_ACTION=PATH_FAILED", "DM_SEQNUM=1", "DM_PATH=8:16",
        "DM_NR_VALID_PATHS=1", "DM_NAME=mpatha", "DM_UUID=mpath-360014050000000000000000000000001",
        "MAJOR=253", "MINOR=0", "DEVNAME=dm-0", "DEVTYPE=disk", "SEQNUM=4711"]))
    put("uevent", "dm-path-reinstated", wire([
        "change@" + dm, "ACTION=change", "DEVPATH=" + dm, "SUBSYSTEM=block",
        "DM_TARGET=multipath", "DM_ACTION=PATH_REINSTATED", "DM_SEQNUM=2", "DM_PATH=8:16",
        "DM_NR_VALID_PATHS=2", "DM_NAME=mpatha", "MAJOR=253", "MINOR=0", "SEQNUM=4712"]))
    loop = "/devices/virtual/block/loop3"
    put("uevent", "block-add", wire([
        "add@" + loop, "ACTION=add", "DEVPATH=" + loop, "SUBSYSTEM=block", "MAJOR=7",
        "MINOR=3", "DEVNAME=loop3", "DEVTYPE=disk", "DISKSEQ=12", "SEQNUM=100"]))
    put("uevent", "block-resize", wire([
        "change@" + loop, "ACTION=change", "DEVPATH=" + loop, "SUBSYSTEM=block", "RESIZE=1",
        "MAJOR=7", "MINOR=3", "DEVNAME=loop3", "DEVTYPE=disk", "SEQNUM=101"]))
    sd = "/devices/pci0000:00/0000:00:05.0/host1/target1:0:0/1:0:0:1"
    put("uevent", "scsi-ua", wire([
        "change@" + sd, "ACTION=change", "DEVPATH=" + sd, "SUBSYSTEM=scsi",
        "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "DEVTYPE=scsi_device", "SEQNUM=102"]))
    put("uevent", "libudev", b"libudev\0\xfe\xed\xca\xfe" + bytes(32))


def dm_reply(specs, name=b"mpatha"):
    data = b""
    for i, (ttype, params) in enumerate(specs):
        p = params.encode() + b"\0"
        p += b"\0" * (-(40 + len(p)) % 8)
        nxt = 40 + len(p) if i + 1 < len(specs) else 0
        data += struct.pack("<QQiI16s", 0, 2097152, 0, len(data) + nxt if nxt else 0,
                            ttype.encode()) + p
    header_size = 312
    hdr = struct.pack("<3IIIIiIII", 4, 48, 0, header_size + len(data), header_size, len(specs),
                      1, 0, 7, 0)
    hdr += struct.pack("<Q", (253 << 8) | 0) + name.ljust(128, b"\0") + b"".ljust(129, b"\0")
    hdr += b"\0" * 7
    assert len(hdr) == header_size, len(hdr)
    return hdr + data


STATUS = "2 0 0 0 2 1 A 0 1 0 8:16 A 0 E 0 1 0 8:32 A 0"
TABLE = "1 queue_if_no_path 1 alua 2 1 service-time 0 1 2 8:16 1 1 service-time 0 1 2 8:32 1 1"


def dm_seeds():
    put("dm_buffer", "status-multipath", dm_reply([("multipath", STATUS)]))
    put("dm_buffer", "table-two-targets", dm_reply([("linear", "8:16 0"), ("multipath", TABLE)]))
    put("dm_text", "status", STATUS)
    put("dm_text", "status-queueing", "2 1 0 0 1 1 A 0 2 0 8:16 F 3 8:32 F 1")
    put("dm_text", "table", TABLE)
    put("dm_text", "table-queue-mode", "2 queue_mode bio 0 1 1 round-robin 0 1 1 8:0 1")
    put("dm_text", "status-queue-length", "2 0 0 0 1 1 A 0 2 1 8:16 A 0 3 8:32 A 0 0")


def vpd_seeds():
    seen = set()
    for f in sorted((ROOT / "tests/fixtures/hosts").rglob("vpd_pg8*")):
        data = f.read_bytes()
        if data in seen:
            continue
        seen.add(data)
        put("vpd", f"{f.name}-{len(seen)}", data)
    # A SCSI name string designator (type 8, the iSCSI target name).
    name = b"iqn.2003-01.org.linux-iscsi.lab:sn.0123456789ab,t,0x0001\0\0\0\0"
    put("vpd", "pg83-name-string", bytes([0, 0x83, 0, len(name) + 4, 0x53, 0x08, 0, len(name)]) + name)


def numbers_seeds():
    for i, s in enumerate(["8:16", "259:0", "   3        1\n",
                           "  100 0 800 20 50 0 400 10 0 30 30 0 0 0 0 0 0\n",
                           "250ms", "read", "8:1234", "18446744073709551615", "0x1a2\n"]):
        put("numbers", f"seed-{i}", bytes([i % 9]) + s.encode())


def prom_seeds():
    put("prom_response", "matrix", json.dumps({"status": "success", "data": {
        "resultType": "matrix", "result": [{"metric": {
            "__name__": "sanwatch_target_down_seconds_total", "target": "mpatha",
            "target_type": "map", "instance": "db01:9847"},
            "values": [[1764842400, "0"], [1764842460, "12.5"]]}]}}))
    put("prom_response", "vector", json.dumps({"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {"target": "sdb"},
                                            "value": [1764842400.123, "NaN"]}]}}))
    put("prom_response", "scalar", json.dumps({"status": "success", "data": {
        "resultType": "scalar", "result": [1764842400, "1"]}}))
    put("prom_response", "series", json.dumps({"status": "success", "data": [
        {"__name__": "sanwatch_device_info", "target": "mpatha", "array": "3PARdata VV"}]}))
    put("prom_response", "error", json.dumps({"status": "error", "errorType": "bad_data",
                                              "error": "parse error"}))
    put("prom_response", "warnings", json.dumps({"status": "success", "warnings": ["x"],
                                                 "data": {"resultType": "vector", "result": []}}))


def report_args_seeds():
    for i, s in enumerate(["2026-11-01", "2026-11-01T10:00:00.250+01:00", "2026-11", "30d",
                           "99.9999", "10ms:99.9"]):
        put("report_args", f"seed-{i}", bytes([[0, 0, 1, 2, 3, 4][i]]) + s.encode())


METRICS = """# HELP sanwatch_state Current state of each target (1 for the current state)
# TYPE sanwatch_state gauge
sanwatch_state{target="mpatha",target_type="map",state="ok"} 1
sanwatch_state{target="mpatha",target_type="map",state="stalled"} 0
sanwatch_state{target="sdb",target_type="path",state="failed"} 1
sanwatch_state_changed_timestamp_seconds{target="sdb"} 1764842400.5
sanwatch_state{target="odd\\"name\\\\x\\n",state="slow"} 1
"""


def exposition_seeds():
    put("agent_states", "metrics", METRICS)
    put("exposition", "seed-0", b"mpatha\\ok\\help text\\" + bytes(8))
    put("exposition", "seed-1", "m\u00e9\"x\n\\ok".encode() + b"\xff\xfe" + bytes(8))


def ledger_row(chain, seq, kind, ts, target, body):
    return f"{chain}\t{seq}\t{kind}\t{ts}\t{target}\t{json.dumps(body, sort_keys=True)}\n"


def ledger_seeds():
    t0 = 1793491200000 + 86400000  # Nov 2 2026
    run = "0123456789abcdef0123456789abcdef"
    ident = {"device": "253:0", "kernel_name": "dm-0", "dm_name": "mpatha",
             "wwid": "360002ac0000000000000000000001234", "array": "3PARdata VV",
             "array_id": "2ff70002ac012345"}
    span = {"start_ms": t0 + 1000, "end_ms": t0 + 6017, "duration_ms": 5017}
    rows = [
        ledger_row("events", 1, "start", t0, "", {"run_id": run, "host": "db01",
                   "latency_slos_ns": [10000000, 100000000], "mono_ns": 1}),
        ledger_row("events", 2, "state", t0 + 3000, "mpatha", {
            "run_id": run, "from": "ok", "to": "stalled", "target_type": "map",
            "wwid": ident["wwid"], "array": ident["array"], "array_id": ident["array_id"]}),
        ledger_row("events", 3, "incident_open", t0 + 1000, "mpatha", {
            "run_id": run, "id": "a-1", "host": "db01", "target_type": "map",
            "identity": ident, "state": "stalled", "detected_ms": t0 + 3000,
            "impairment_start_ms": t0 + 1000}),
        ledger_row("events", 4, "incident", t0 + 1000, "mpatha", {
            "run_id": run, "id": "a-1", "host": "db01", "target_type": "map",
            "identity": ident, "first_state": "stalled", "worst_state": "stalled",
            "impairment": span, "basis": "hard", "detection": {"start_ms": t0 + 3000,
                                                              "end_ms": t0 + 9000},
            "array": ident["array"], "array_id": ident["array_id"], "closed_by": "recovered"}),
        ledger_row("minutes", 1, "minute", t0 + 60000, "mpatha", {
            "run_id": run, "ios": 6000, "target_type": "map", "wwid": ident["wwid"],
            "ios_over_ns": {"10000000": 12, "100000000": 1}, "array": ident["array"]}),
        ledger_row("minutes", 2, "alive", t0 + 60000, "", {"run_id": run}),
        ledger_row("hours", 1, "hour", t0 + 3600000, "mpatha", {
            "run_id": run, "ios": 360000, "minutes_with_io": 60,
            "ios_over_ns": {"10000000": 100}, "minutes_reaching": {"10000000": {"99.9": 59}}}),
        ledger_row("events", 5, "baseline", t0 + 7200000, "mpatha", {
            "run_id": run, "state": "degraded", "target_type": "map", "identity": ident,
            "since_ms": t0 + 3600000}),
        ledger_row("events", 6, "stop", t0 + 9000000, "", {"run_id": run, "mono_ns": 2}),
    ]
    put("ledger", "run-with-incident", "".join(rows))
    put("ledger", "unclean", "".join(rows[:4]) + ledger_row(
        "events", 7, "unclean_end", t0 + 8000000, "", {"run_id": run, "started_ms": t0,
                                                      "last_seen_ms": t0 + 7000000}))


def merge_seeds():
    sample = (ROOT / "tests/fixtures/report/sample-report.json").read_bytes()
    put("report_merge", "sample", sample)


def web_config_seeds():
    h = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
    put("web_config", "full",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: /etc/ssl/server.key\n"
        "  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
        "  min_version: TLS12\n  max_version: TLS13\n"
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: true\n"
        "http_server_config:\n  http2: true\n  headers:\n"
        "    Strict-Transport-Security: max-age=31536000\n    X-Frame-Options: deny\n"
        f"basic_auth_users:\n  prometheus: {h}\n  alice: '{h}'\n")
    put("web_config", "flow",
        "{tls_server_config: {cert_file: a, key_file: b, client_auth_type: VerifyClientCertIfGiven, "
        f'client_ca_file: c}}, basic_auth_users: {{"bob": "{h}"}}}}\n')
    put("web_config", "auth-only", f"basic_auth_users:\n  prometheus: {h}\n")
    put("web_config", "errors",
        "tls_server_config:\n  key_file: k\n  bogus: 1\n  min_version: TLS9\n"
        "basic_auth_users:\n  a:b: nope\n  a:b: again\n&x anchors: *x\n")
    put("web_config", "empty", "")


def diskstats_seeds():
    for f in sorted((ROOT / "tests/fixtures/hosts").rglob("proc/diskstats")):
        put("diskstats", f"{f.parent.parent.name}", b"\0" + f.read_bytes())
    put("diskstats", "cut-mid-line", b"\x30" + (ROOT / "tests/fixtures/hosts/nvmeof/proc/diskstats").read_bytes())
    put("diskstats", "odd-lines", b"\0 259 x nvme9n1\n4096 0 big 0\n8 0 " + b"a" * 80 + b" 1\n\n\t7\t1\tloop1\n")


def misc_seeds():
    put("event_text", "seed-0", b"mpatha\x00dm-0\x00\x03reason: stall 5s\x00HTTP body \xff")
    put("sysfs", "seed-0", bytes([0, 0, 3, 4]) + b"1024")
    put("sysfs", "seed-1", bytes([1, 0, 10, 8]) + b"\xff\xfe8:16\n\0")


if __name__ == "__main__":
    for f in (config_seeds, uevent_seeds, dm_seeds, vpd_seeds, numbers_seeds, prom_seeds,
              report_args_seeds, exposition_seeds, ledger_seeds, merge_seeds, web_config_seeds,
              diskstats_seeds, misc_seeds):
        f()
