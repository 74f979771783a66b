// EventLog: JSON lines out, state events to the sinks, and Batch holding the
// sinks' share back until the changes of one cause are all announced.
#include "event_log.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

using nlohmann::ordered_json;
using sanwatch::EventLog;
using sanwatch::Health;
using sanwatch::Transition;

namespace {

struct MemLog {
  std::FILE* f = std::tmpfile();
  EventLog log{f};
  std::vector<std::string> each;                // targets, as the per-event sink saw them
  std::vector<std::vector<std::string>> calls;  // targets per batch-sink call
  MemLog() {
    log.subscribe([this](const ordered_json& ev) { each.push_back(ev["target"]); });
    log.subscribe_batch([this](std::span<const ordered_json> evs) {
      std::vector<std::string> targets;
      for (const auto& ev : evs) targets.push_back(ev["target"]);
      calls.push_back(std::move(targets));
    });
  }
  ~MemLog() { std::fclose(f); }
  std::size_t lines() {
    std::fflush(f);
    std::rewind(f);
    std::size_t n = 0;
    for (int c; (c = std::fgetc(f)) != EOF;) n += c == '\n';
    return n;
  }
  void state(const std::string& target, Health to) {
    log.state(target, "path", Transition{Health::kOk, to, 1, "why", {}});
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

TEST_CASE("event_log: a batch writes at once and hands the sinks everything at its end") {
  MemLog m;
  {
    EventLog::Batch outer(m.log);
    m.state("sdb", Health::kFailed);
    {
      EventLog::Batch inner(m.log);  // nested: only the outermost delivers
      m.state("mpatha", Health::kDegraded);
    }
    m.log.debug("ignored below info");
    m.log.info("a log line is written, never delivered");
    CHECK(m.lines() == 3);  // announced in the log already
    CHECK(m.each.empty());
    CHECK(m.calls.empty());
  }
  CHECK(m.each == std::vector<std::string>{"sdb", "mpatha"});
  REQUIRE(m.calls.size() == 1);
  CHECK(m.calls[0] == std::vector<std::string>{"sdb", "mpatha"});
  { EventLog::Batch empty(m.log); }
  CHECK(m.calls.size() == 1);  // nothing held, nothing delivered
}

TEST_CASE("event_log: enabled() follows the level") {
  MemLog m;
  CHECK_FALSE(m.log.enabled(sanwatch::LogLevel::kDebug));
  CHECK(m.log.enabled(sanwatch::LogLevel::kInfo));
  m.log.set_level(sanwatch::LogLevel::kDebug);
  CHECK(m.log.enabled(sanwatch::LogLevel::kDebug));
}
