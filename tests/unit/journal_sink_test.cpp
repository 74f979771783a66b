// SPDX-License-Identifier: Apache-2.0
// The journald record of a state change (field for field), its priorities
// and MESSAGE_IDs (pinned: saved queries use them), and when stderr counts
// as the journal.
#include "exporters/journal_sink.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "journal_socket.h"

using namespace sanwatch;
using Fields = std::vector<std::string>;

namespace {

StateChange stalled_path() {
  StateChange c;
  c.ts = "2026-12-04T20:45:00.152220Z";
  c.mono_ns = 7269941783;
  c.transition = {Health::kOk,
                  Health::kStalled,
                  0,
                  "oldest I/O outstanding for 2.44s (stall threshold 1s)",
                  {}};
  c.transition.evidence.inflight_oldest_s = 2.43790694;
  c.target.label = "sde";
  c.target.type = "path";
  c.target.device = "8:64";
  c.target.kernel_name = "sde";
  c.target.wwid = "naa.600a09803830416b372b4d686f355671";
  c.target.map = "oradata";
  c.target.hctl = "3:0:2:0";
  c.target.array = "NETAPP LUN C-Mode";
  c.target.serial = "80Ak7+Mho5Vq";
  c.target.target_port = "0x200100a0985b3c7d";
  c.target.transport = "fc";
  return c;
}

}  // namespace

TEST_CASE("journal: a stalled path, with its WWID, serial and port") {
  CHECK(journal_fields(stalled_path()) ==
        Fields{
            "MESSAGE=Path sde of oradata is stalled (was ok): oldest I/O outstanding for 2.44s "
            "(stall threshold 1s)",
            "MESSAGE_ID=d366120855244057b38946150c9e8ae9",
            "PRIORITY=3",
            "SYSLOG_IDENTIFIER=sanwatch",
            "SANWATCH_TS=2026-12-04T20:45:00.152220Z",
            "SANWATCH_MONO_NS=7269941783",
            "SANWATCH_TARGET=sde",
            "SANWATCH_TARGET_TYPE=path",
            "SANWATCH_FROM=ok",
            "SANWATCH_STATE=stalled",
            "SANWATCH_REASON=oldest I/O outstanding for 2.44s (stall threshold 1s)",
            "SANWATCH_IOS=0",
            "SANWATCH_SLOW_IOS=0",
            "SANWATCH_MAX_LATENCY_S=0",
            "SANWATCH_INFLIGHT_OLDEST_S=2.43790694",
            "SANWATCH_ERRORS=0",
            "SANWATCH_CANARY_LATENCY_S=0",
            "SANWATCH_CANARY_OVERDUE_S=0",
            "SANWATCH_CANARY_ERRORS=0",
            "SANWATCH_DEVICE=8:64",
            "SANWATCH_KERNEL_NAME=sde",
            "SANWATCH_WWID=naa.600a09803830416b372b4d686f355671",
            "SANWATCH_MAP=oradata",
            "SANWATCH_HCTL=3:0:2:0",
            "SANWATCH_ARRAY=NETAPP LUN C-Mode",
            "SANWATCH_SERIAL=80Ak7+Mho5Vq",
            "SANWATCH_TARGET_PORT=0x200100a0985b3c7d",
            "SANWATCH_TRANSPORT=fc",
        });
}

TEST_CASE("journal: a map recovering, with its path counts") {
  StateChange m;
  m.ts = "2026-12-04T20:45:13.878078Z";
  m.mono_ns = 20995748233;
  m.transition = {Health::kDegraded, Health::kOk, 0, "no longer degraded for 10s", {}};
  m.transition.evidence.ios = 1200;
  m.transition.evidence.max_latency_s = 0.0042;
  m.transition.evidence.valid_paths = 2;
  m.transition.evidence.total_paths = 2;
  m.target.label = "mpatha";
  m.target.type = "map";
  m.target.device = "254:0";
  m.target.kernel_name = "dm-0";
  m.target.dm_name = "mpatha";
  m.target.wwid = "360002ac0000000000000001a0001c4f1";
  CHECK(journal_fields(m) == Fields{
                                 "MESSAGE=Multipath map mpatha is ok (was degraded): no longer "
                                 "degraded for 10s",
                                 "MESSAGE_ID=5237277027e741db9fce38cb623d84b3",
                                 "PRIORITY=5",
                                 "SYSLOG_IDENTIFIER=sanwatch",
                                 "SANWATCH_TS=2026-12-04T20:45:13.878078Z",
                                 "SANWATCH_MONO_NS=20995748233",
                                 "SANWATCH_TARGET=mpatha",
                                 "SANWATCH_TARGET_TYPE=map",
                                 "SANWATCH_FROM=degraded",
                                 "SANWATCH_STATE=ok",
                                 "SANWATCH_REASON=no longer degraded for 10s",
                                 "SANWATCH_IOS=1200",
                                 "SANWATCH_SLOW_IOS=0",
                                 "SANWATCH_MAX_LATENCY_S=0.0042",
                                 "SANWATCH_INFLIGHT_OLDEST_S=0",
                                 "SANWATCH_ERRORS=0",
                                 "SANWATCH_CANARY_LATENCY_S=0",
                                 "SANWATCH_CANARY_OVERDUE_S=0",
                                 "SANWATCH_CANARY_ERRORS=0",
                                 "SANWATCH_VALID_PATHS=2",
                                 "SANWATCH_TOTAL_PATHS=2",
                                 "SANWATCH_DEVICE=254:0",
                                 "SANWATCH_KERNEL_NAME=dm-0",
                                 "SANWATCH_DM_NAME=mpatha",
                                 "SANWATCH_WWID=360002ac0000000000000001a0001c4f1",
                             });
}

TEST_CASE("journal: an array port, one SANWATCH_PATH per path through it") {
  StateChange p;
  p.ts = "2026-12-04T20:46:00.000001Z";
  p.mono_ns = 1;
  p.transition = {
      Health::kOk, Health::kDegraded, 0, "every path through the port is unhealthy", {}};
  p.target.label = "0x21000024ff000001";
  p.target.type = "port";
  p.target.array = "3PARdata VV";
  p.target.target_port = "0x21000024ff000001";
  p.target.paths = {"sdb", "sdd"};
  const Fields f = journal_fields(p);
  CHECK(f == Fields{
                 "MESSAGE=Array port 0x21000024ff000001 of 3PARdata VV is degraded (was ok): "
                 "every path through the port is unhealthy",
                 "MESSAGE_ID=fcf0bb0cb9114085ab27e550972361f0",
                 "PRIORITY=4",
                 "SYSLOG_IDENTIFIER=sanwatch",
                 "SANWATCH_TS=2026-12-04T20:46:00.000001Z",
                 "SANWATCH_MONO_NS=1",
                 "SANWATCH_TARGET=0x21000024ff000001",
                 "SANWATCH_TARGET_TYPE=port",
                 "SANWATCH_FROM=ok",
                 "SANWATCH_STATE=degraded",
                 "SANWATCH_REASON=every path through the port is unhealthy",
                 "SANWATCH_IOS=0",
                 "SANWATCH_SLOW_IOS=0",
                 "SANWATCH_MAX_LATENCY_S=0",
                 "SANWATCH_INFLIGHT_OLDEST_S=0",
                 "SANWATCH_ERRORS=0",
                 "SANWATCH_CANARY_LATENCY_S=0",
                 "SANWATCH_CANARY_OVERDUE_S=0",
                 "SANWATCH_CANARY_ERRORS=0",
                 "SANWATCH_ARRAY=3PARdata VV",
                 "SANWATCH_TARGET_PORT=0x21000024ff000001",
                 "SANWATCH_PATH=sdb",
                 "SANWATCH_PATH=sdd",
             });
}

TEST_CASE("journal: a device names its dm name, and empty fields are left out") {
  StateChange d;
  d.ts = "t";
  d.transition = {Health::kOk, Health::kFailed, 0, "3 I/O error(s) (ioerr)\nwithin 10s", {}};
  d.transition.evidence.last_error = "ioerr";
  d.target.label = "dm-3";
  d.target.type = "device";
  d.target.device = "254:3";
  d.target.kernel_name = "dm-3";
  d.target.dm_name = "vg-lv";
  const Fields f = journal_fields(d);
  REQUIRE(f.size() >= 3);
  // A newline stays in the value: sd_journal_sendv sends such a field in
  // the protocol's binary form.
  CHECK(f[0] ==
        "MESSAGE=Device dm-3 (vg-lv) is failed (was ok): 3 I/O error(s) (ioerr)\nwithin 10s");
  CHECK(f[2] == "PRIORITY=3");
  const std::set<std::string> all(f.begin(), f.end());
  CHECK(all.count("SANWATCH_LAST_ERROR=ioerr"));
  CHECK(all.count("SANWATCH_DM_NAME=vg-lv"));
  for (const auto& kv : f) {
    INFO(kv);
    CHECK(kv.find("SANWATCH_KERNEL_NAME") == std::string::npos);  // not for devices
    CHECK(kv.find("SANWATCH_EVENT") == std::string::npos);
    CHECK(kv.back() != '=');  // nothing empty
  }
}

TEST_CASE("journal: one fixed MESSAGE_ID and a priority per state") {
  std::set<std::string_view> ids;
  for (const char* s :
       {"ok", "slow", "degraded", "down", "stalled", "failed", "flapping", "gone"}) {
    INFO(s);
    const std::string_view id = journal_message_id(s);
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string_view::npos);
    ids.insert(id);
  }
  CHECK(ids.size() == 8);
  CHECK(journal_message_id("stalled") == "d366120855244057b38946150c9e8ae9");
  CHECK(journal_message_id("failed") == "6cbbfc962c83472db19ee57018fe3160");
  CHECK(journal_message_id("nonsense").empty());
  CHECK(journal_priority("ok") == 5);
  for (const char* s : {"slow", "degraded", "flapping"}) CHECK(journal_priority(s) == 4);
  for (const char* s : {"stalled", "failed", "down", "gone"}) CHECK(journal_priority(s) == 3);
}

TEST_CASE("journal: stderr is the journal only when JOURNAL_STREAM names its file") {
  CHECK_FALSE(parse_journal_stream(""));
  CHECK_FALSE(parse_journal_stream("12"));
  CHECK_FALSE(parse_journal_stream(":34"));
  CHECK_FALSE(parse_journal_stream("12:"));
  CHECK_FALSE(parse_journal_stream("12:34x"));
  CHECK_FALSE(parse_journal_stream("-1:34"));
  const auto js = parse_journal_stream("64769:1234567");
  REQUIRE(js);
  CHECK(js->device == 64769);
  CHECK(js->inode == 1234567);

  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  struct stat st {};
  REQUIRE(fstat(fileno(f), &st) == 0);
  const auto dev = static_cast<unsigned long long>(st.st_dev);
  const auto ino = static_cast<unsigned long long>(st.st_ino);
  CHECK(is_journal_stream(fileno(f), (std::to_string(dev) + ":" + std::to_string(ino)).c_str()));
  CHECK_FALSE(
      is_journal_stream(fileno(f), (std::to_string(dev) + ":" + std::to_string(ino + 1)).c_str()));
  CHECK_FALSE(is_journal_stream(fileno(f), nullptr));
  CHECK_FALSE(is_journal_stream(-1, (std::to_string(dev) + ":" + std::to_string(ino)).c_str()));
  std::fclose(f);
}

TEST_CASE("journal: the test's native protocol reader takes both field forms") {
  // What sd_journal_sendv writes: KEY=value lines, and for a value with a
  // newline KEY, '\n', its length as 64-bit little endian, the bytes, '\n'.
  std::string dgram = "PRIORITY=3\nMESSAGE\n";
  const std::string value = "two\nlines";
  for (int i = 0; i < 8; ++i) dgram += static_cast<char>(i == 0 ? value.size() : 0);
  dgram += value + "\nSANWATCH_PATH=sdb\nSANWATCH_PATH=sdd\n";
  const auto rec = test::parse_journal_native(dgram);
  REQUIRE(rec);
  CHECK(rec->get("PRIORITY") == "3");
  CHECK(rec->get("MESSAGE") == "two\nlines");
  CHECK(rec->all("SANWATCH_PATH") == std::vector<std::string>{"sdb", "sdd"});
  CHECK(rec->get("MISSING").empty());
  CHECK_FALSE(test::parse_journal_native("MESSAGE\n\x05"));  // length cut short
  CHECK_FALSE(test::parse_journal_native("NO_NEWLINE=x"));
}
