// SPDX-License-Identifier: Apache-2.0
// Synthetic ledgers for the report tests: rows shaped as docs/ledger.md
// says, appended with LedgerStore::append into a temp file.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "report/accounting.h"
#include "report/ledger_reader.h"
#include "report/options.h"
#include "test_util.h"

namespace sanwatch::test {

inline constexpr std::int64_t kMin = 60'000;
inline constexpr std::int64_t kHour = 3'600'000;
inline constexpr std::int64_t kDay = 86'400'000;

// Sets TZ for the scope (the report reads the local zone through libc).
class TzGuard {
 public:
  explicit TzGuard(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~TzGuard() {
    if (old_)
      setenv("TZ", old_->c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  TzGuard(const TzGuard&) = delete;
  TzGuard& operator=(const TzGuard&) = delete;

 private:
  std::optional<std::string> old_;
};

// Run ids are 32 hex digits; tests name them by one letter.
inline std::string run_id(char c) { return std::string(32, c); }

class LedgerBuilder {
 public:
  LedgerBuilder() : path_(dir_.path() + "/ledger.db") {}
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_.path(); }

  void start(char run, std::int64_t ts, const std::string& host = "db1",
             std::vector<std::uint64_t> slos = {10'000'000, 100'000'000}) {
    event("start", ts, "",
          {{"host", host},
           {"version", "0.1.0"},
           {"kernel", "6.1.0"},
           {"boot_id", "b"},
           {"config", "<embedded default>"},
           {"config_sha256", std::string(64, 'c')},
           {"latency_slos_ns", slos},
           {"mono_ns", 1000}},
          run);
  }
  void stop(char run, std::int64_t ts) { event("stop", ts, "", {{"mono_ns", 2000}}, run); }
  // Found by run `by` at `found_ms`: `run` was last seen at `last_seen`.
  void unclean_end(char run, std::int64_t started, std::int64_t last_seen, char by,
                   std::int64_t found_ms) {
    event("unclean_end", last_seen, "",
          {{"started_ms", started},
           {"last_seen_ms", last_seen},
           {"found_by_run", run_id(by)},
           {"found_ms", found_ms}},
          run);
  }
  // The writer dropped rows of [from, to] (their ts_ms) between first and last.
  void rows_dropped(char run, std::int64_t first, std::int64_t last, std::int64_t from,
                    std::int64_t to) {
    event("rows_dropped", first, "",
          {{"rows", 7},
           {"kinds", {{"state", 4}, {"incident", 3}}},
           {"targets", {"mpatha"}},
           {"first_ms", first},
           {"last_ms", last},
           {"from_ms", from},
           {"to_ms", to}},
          run);
  }
  void alive(char run, std::int64_t ts) {
    add(kChainMinutes, "alive", ts, "", {{"targets", 3}}, run);
  }
  void state(char run, const std::string& target, std::int64_t ts, const std::string& from,
             const std::string& to, const std::string& type = "map",
             const std::string& array = "") {
    nlohmann::json b{{"ts", utc_ms(ts)}, {"mono_ns", 5},        {"event", "state"},
                     {"target", target}, {"target_type", type}, {"from", from},
                     {"to", to},         {"reason", "test"},    {"ios", 0},
                     {"errors", 0},      {"device", "253:0"}};
    if (!array.empty()) b["array"] = array;
    event("state", ts, target, b, run);
  }
  void incident_open(char run, const std::string& id, const std::string& target,
                     const std::string& state, std::int64_t start, std::int64_t detected,
                     const std::string& type = "map") {
    event("incident_open", start, target,
          {{"id", id},
           {"host", "db1"},
           {"target_type", type},
           {"identity", {{"device", "253:0"}, {"dm_name", target}}},
           {"state", state},
           {"detected_ms", detected},
           {"impairment_start_ms", start}},
          run);
  }
  // An incident row, with the fields docs/ledger.md lists.
  void incident(char run, const std::string& id, const std::string& target,
                const std::string& worst, std::int64_t start, std::int64_t end,
                const std::string& array = "3PARdata VV", const std::string& type = "map",
                const std::string& host = "db1", const std::string& array_id = "") {
    const auto span = [](std::int64_t a, std::int64_t z) {
      return nlohmann::json{{"start_ms", a},       {"end_ms", z},        {"start", utc_ms(a)},
                            {"end", utc_ms(z)},    {"start_mono_ns", 1}, {"end_mono_ns", 2},
                            {"duration_ms", z - a}};
    };
    nlohmann::json det = span(start, end + 5000);
    det["changes"] = nlohmann::json::array();
    event("incident", start, target,
          {{"id", id},
           {"host", host},
           {"target_type", type},
           {"identity", {{"device", "253:0"}, {"dm_name", target}, {"wwid", "3600" + target}}},
           {"first_state", worst},
           {"worst_state", worst},
           {"impairment", span(start, end)},
           {"basis", worst == "slow" ? "slow" : "hard"},
           {"ongoing", false},
           {"detection", det},
           {"peak_oldest_ms", 5010},
           {"max_latency_ms", 5016},
           {"io_errors", 2},
           {"canary_failures", 0},
           {"paths", {"sdb", "sdc"}},
           {"target_ports", {"0x21000024ff000001"}},
           {"array", array},
           {"closed_by", "recovered"}},
          run);
    if (!array_id.empty()) rows_.back().body["array_id"] = array_id;
  }
  void minute(char run, const std::string& target, std::int64_t minute_ms, std::uint64_t ios,
              std::uint64_t over_10ms, std::uint64_t over_100ms, const std::string& type = "map",
              const std::string& array = "3PARdata VV", const std::string& array_id = "") {
    nlohmann::json b{{"minute_ms", minute_ms},
                     {"covered_ms", 60000},
                     {"state_ms", {{"ok", 60000}}},
                     {"impaired_ms", 0},
                     {"ios", ios},
                     {"ios_over_ns", {{"10000000", over_10ms}, {"100000000", over_100ms}}},
                     {"canary_probes", 6},
                     {"canary_failures", 0},
                     {"target_type", type},
                     {"device", "253:0"},
                     {"wwid", "3600" + target}};
    if (!array.empty()) b["array"] = array;
    if (!array_id.empty()) b["array_id"] = array_id;
    add(kChainMinutes, "minute", minute_ms, target, b, run);
  }

  // A `baseline` row (the agent's latency drift condition changed).
  void baseline(char run, const std::string& target, std::int64_t ts, const std::string& state,
                std::int64_t ratio_milli, std::int64_t peak_milli = 0, bool restored = false) {
    nlohmann::json b{{"state", state},
                     {"target_type", "map"},
                     {"since_ms", ts},
                     {"ratio_p50_milli", 1000},
                     {"ratio_p99_milli", ratio_milli},
                     {"peak_ratio_milli", peak_milli}};
    if (restored) b["restored"] = true;
    event("baseline", ts, target, b, run);
  }

  // Appends every row so far; the store stays open (as the agent's would).
  LedgerStore& commit() {
    if (!store_) {
      auto s = LedgerStore::open(path_);
      if (!s) throw std::runtime_error(s.error().message());
      store_.emplace(std::move(s).value());
    }
    if (auto st = store_->append(rows_); !st) throw std::runtime_error(st.error().message());
    rows_.clear();
    return *store_;
  }

 private:
  void event(const char* kind, std::int64_t ts, const std::string& target, nlohmann::json body,
             char run) {
    add(kChainEvents, kind, ts, target, std::move(body), run);
  }
  void add(const char* chain, const char* kind, std::int64_t ts, const std::string& target,
           nlohmann::json body, char run) {
    body["run_id"] = run_id(run);
    rows_.push_back(LedgerRow{chain, 0, kind, ts, target, std::move(body)});
  }

  TempDir dir_{"sanwatch-report"};
  std::string path_;
  std::vector<LedgerRow> rows_;
  std::optional<LedgerStore> store_;
};

// The report as `sanwatch report` computes it, on the committed ledger
// opened read-only.
inline nlohmann::json report_of(LedgerBuilder& b, ReportArgs a, std::int64_t now_ms = 0) {
  b.commit();
  auto opts = make_options(a, now_ms);
  if (!opts) throw std::runtime_error(opts.error().message());
  auto store = LedgerStore::open(b.path(), LedgerStore::Access::kReadOnly);
  if (!store) throw std::runtime_error(store.error().message());
  auto data = read_ledger(*store, opts->period, opts->slos);
  if (!data) throw std::runtime_error(data.error().message());
  auto rep = build_report(*data, *opts);
  if (!rep) throw std::runtime_error(rep.error().message());
  return *rep;
}

// The entry of `targets` named `name`.
inline nlohmann::json target_of(const nlohmann::json& report, const std::string& name) {
  for (const auto& t : report["targets"])
    if (t["target"] == name) return t;
  throw std::runtime_error("no target " + name + " in the report");
}

}  // namespace sanwatch::test
