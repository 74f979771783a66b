// The evidence ledger written by `sanwatch run` on the fault disk: incidents
// whose impairment matches the faults injected, whatever `recovery` is; a
// ledger that survives kill -9 at any instant; detection that never waits
// for the ledger's disk.
#include <fmt/format.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "ledger/ledger_store.h"
#include "privileged.h"

using namespace std::chrono_literals;
using sanwatch::LedgerRow;
using sanwatch::LedgerStore;
using sanwatch::test::AgentProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;

namespace {

std::string config_for(const FaultDisk& d, const std::string& recovery,
                       const std::string& ledger = "") {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"100ms\"\nstall = \"1s\"\nrecovery = \"{}\"\n"
      "slow_window = \"2s\"\n[canary]\ntargets = \"none\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"200ms\"\n{}",
      d.loop_name(), recovery, ledger);
}

// Reads one block after another, so I/O is outstanding whenever a fault
// begins: the impairment's start is then the fault's start.
class Reader {
 public:
  explicit Reader(const std::string& dev)
      : t_([this, dev] {
          DirectIo io(dev);
          std::uint64_t off = 0;
          while (!stop_) {
            io.read(off);
            off = (off + 4096) % (32 << 20);
            std::this_thread::sleep_for(1ms);
          }
        }) {}
  ~Reader() {
    stop_ = true;
    t_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread t_;
};

std::vector<LedgerRow> rows_of(const std::string& path, const char* chain, const char* kind) {
  auto store = LedgerStore::open(path, LedgerStore::Access::kReadOnly);
  REQUIRE(store);
  auto rows = store->select(chain, {kind}, INT64_MIN, INT64_MAX);
  REQUIRE(rows);
  return std::move(rows).value();
}

double injected_ms(std::uint64_t a, std::uint64_t b) { return (b - a) / 1e6; }

}  // namespace

TEST_CASE("ledger: three stalls and an EIO burst are four incidents of their injected length") {
  sanwatch::test::require_privileged("ledger incidents test");
  const std::string recovery = GENERATE(std::string("2s"), std::string("5s"));
  FaultDisk disk;
  AgentProcess agent(config_for(disk, recovery));
  const std::string dev = disk.loop_name();
  std::vector<double> injected;
  {
    Reader reader(disk.loop_device());
    for (auto len : {2s, 3s, 5s}) {
      disk.stall();
      const std::uint64_t a = mono_now_ns();
      std::this_thread::sleep_for(len);
      const std::uint64_t b = mono_now_ns();
      disk.release();
      injected.push_back(injected_ms(a, b));
      REQUIRE(agent.wait_state(dev, "ok", 20s));
    }
    disk.set_eio(true);
    const std::uint64_t a = mono_now_ns();
    std::this_thread::sleep_for(2s);
    const std::uint64_t b = mono_now_ns();
    disk.set_eio(false);
    injected.push_back(injected_ms(a, b));
    REQUIRE(agent.wait_state(dev, "failed", 1s));
    REQUIRE(agent.wait_state(dev, "ok", 20s));
  }
  REQUIRE(agent.stop() == 0);
  auto incidents = rows_of(agent.ledger_path(), sanwatch::kChainEvents, "incident");
  REQUIRE(incidents.size() == 4);
  const char* worst[] = {"stalled", "stalled", "stalled", "failed"};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& b = incidents[i].body;
    INFO("incident " << i << " (recovery " << recovery << "): " << b.dump());
    CHECK(b["worst_state"] == worst[i]);
    CHECK(b["basis"] == "hard");
    CHECK(b["closed_by"] == "recovered");
    CHECK(incidents[i].target == dev);
    const double got = b["impairment"]["duration_ms"].get<double>();
    WARN(fmt::format("incident {} (recovery {}): impairment {:.0f} ms, injected {:.1f} ms", i,
                     recovery, got, injected[i]));
    CHECK(std::abs(got - injected[i]) <= 50);
    // The detection ran `recovery` longer: hysteresis is not downtime.
    const double detected = b["detection"]["end_ms"].get<double>() - b["detection"]["start_ms"].get<double>();
    CHECK(detected > got - 1000);
  }
  CHECK(incidents[3].body["io_errors"].get<int>() >= 10);
  CHECK(rows_of(agent.ledger_path(), sanwatch::kChainEvents, "start").size() == 1);
  CHECK(rows_of(agent.ledger_path(), sanwatch::kChainEvents, "stop").size() == 1);
  CHECK(rows_of(agent.ledger_path(), sanwatch::kChainEvents, "state").size() >= 8);
  auto store = LedgerStore::open(agent.ledger_path(), LedgerStore::Access::kReadOnly);
  auto rep = sanwatch::verify_ledger(*store);
  REQUIRE(rep);
  CHECK(rep->ok);
}
