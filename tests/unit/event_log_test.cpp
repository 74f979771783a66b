// SPDX-License-Identifier: Apache-2.0
// EventLog: JSON lines out, state events to the sinks, and Batch holding the
// sinks' share back until the changes of one cause are all announced.
#include "detect/event_log.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using nlohmann::ordered_json;
using sanwatch::EventLog;
using sanwatch::Health;
using sanwatch::StateChange;
using sanwatch::TargetIdentity;
using sanwatch::Transition;

namespace {

struct MemLog {
  std::FILE* f = std::tmpfile();
  EventLog log{f};
  std::vector<std::string> each;                // targets, as the per-event sink saw them
  std::vector<std::vector<std::string>> calls;  // targets per batch-sink call
  MemLog() {
    log.subscribe([this](const StateChange& ev) { each.push_back(ev.target.label); });
    log.subscribe_batch([this](std::span<const StateChange> evs) {
      std::vector<std::string> targets;
      for (const auto& ev : evs) targets.push_back(ev.target.label);
      calls.push_back(std::move(targets));
    });
  }
  ~MemLog() { std::fclose(f); }
  std::size_t lines() { return text().size(); }
  // The target (state events) or msg (log lines) of every line written.
  std::vector<std::string> text() {
    std::fflush(f);
    std::rewind(f);
    std::vector<std::string> out;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, f)) {
      const auto j = ordered_json::parse(buf);
      out.push_back(j.contains("target") ? j["target"] : j["msg"]);
    }
    return out;
  }
  void state(const std::string& target, Health to) {
    TargetIdentity id;
    id.label = target;
    id.type = "path";
    log.state(id, Transition{Health::kOk, to, 1, "why", {}});
  }
};

}  // namespace

TEST_CASE("event_log: outside a batch each state event reaches the sinks at once") {
  MemLog m;
  m.state("sda", Health::kFailed);
  m.log.warn("not a state");
  m.state("sdb", Health::kSlow);
  CHECK(m.lines() == 3);
  CHECK(m.each == std::vector<std::string>{"sda", "sdb"});
  CHECK(m.calls == std::vector<std::vector<std::string>>{{"sda"}, {"sdb"}});
}

TEST_CASE("event_log: a batch hands the sinks its state events at its end, then writes") {
  MemLog m;
  {
    EventLog::Batch outer(m.log);
    m.state("sdb", Health::kFailed);
    {
      EventLog::Batch inner(m.log);  // nested: only the outermost delivers
      m.state("mpatha", Health::kDegraded);
    }
    m.log.debug("ignored below info");
    m.log.info("a log line is held in order, never delivered");
    // Another thread (the alert worker) is not held up by our batch.
    std::thread([&] { m.log.warn("from another thread"); }).join();
    CHECK(m.lines() == 1);
    CHECK(m.each.empty());
    CHECK(m.calls.empty());
  }
  CHECK(m.each == std::vector<std::string>{"sdb", "mpatha"});
  REQUIRE(m.calls.size() == 1);
  CHECK(m.calls[0] == std::vector<std::string>{"sdb", "mpatha"});
  CHECK(m.text() == std::vector<std::string>{"from another thread", "sdb", "mpatha",
                                             "a log line is held in order, never delivered"});
  {
    EventLog::Batch only_logs(m.log);
    m.log.warn("no state");
  }
  CHECK(m.calls.size() == 1);  // nothing to deliver
  CHECK(m.lines() == 5);
  m.state("sda", Health::kSlow);  // after the batch: at once again
  CHECK(m.calls.size() == 2);
  CHECK(m.lines() == 6);
}

TEST_CASE("event_log: enabled() follows the level") {
  MemLog m;
  CHECK_FALSE(m.log.enabled(sanwatch::LogLevel::kDebug));
  CHECK(m.log.enabled(sanwatch::LogLevel::kInfo));
  m.log.set_level(sanwatch::LogLevel::kDebug);
  CHECK(m.log.enabled(sanwatch::LogLevel::kDebug));
}

TEST_CASE(
    "event_log: a notice is written whatever the level, held by a batch, never to the sinks") {
  MemLog m;
  m.log.set_level(sanwatch::LogLevel::kError);
  {
    EventLog::Batch b(m.log);
    m.log.event("access_state",
                {{"target", "sda"}, {"from", "active/optimized"}, {"to", "standby"}});
    CHECK(m.lines() == 0);  // held with the batch's other lines
    m.state("sda", Health::kFailed);
  }
  REQUIRE(m.text() == std::vector<std::string>{"sda", "sda"});
  CHECK(m.each == std::vector<std::string>{"sda"});  // the state event only
  std::rewind(m.f);
  char buf[4096];
  REQUIRE(std::fgets(buf, sizeof buf, m.f));
  const auto j = ordered_json::parse(buf);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"ts", "mono_ns", "event", "target", "from", "to"});
  CHECK(j["event"] == "access_state");
  CHECK(j["to"] == "standby");
}
