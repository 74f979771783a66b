// SPDX-License-Identifier: Apache-2.0
// The ledger's writer thread: commits promptly, never blocks a push, drops
// and counts when its disk cannot keep up, and says so once per episode.
#include "ledger/ledger_writer.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ledger/ledger_store.h"
#include "privileged.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;

namespace {

// Rows of today: the writer prunes rows past retention when it opens.
const std::int64_t kNow = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();

LedgerRow state_row(int i) {
  return LedgerRow{kChainEvents, 0, "state", kNow + i, "sdb", {{"n", i}, {"run_id", "r1"}}};
}

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds within = 5s) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

int count_lines(const std::string& path, const std::string& needle) {
  std::ifstream f(path);
  int n = 0;
  for (std::string line; std::getline(f, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("ledger writer: rows are committed and chained, the stop waits for them") {
  test::TempDir dir;
  std::FILE* out = std::tmpfile();
  EventLog log(out);
  LedgerWriter w({dir.path() + "/l.db", 100, 400LL * 86'400'000, 35LL * 86'400'000, "r2"}, log);
  for (int i = 0; i < 50; ++i) CHECK(w.push(state_row(i)));
  CHECK(eventually([&] { return w.counters().rows == 50; }));
  CHECK(w.counters().head_ts_ms == kNow + 49);
  CHECK(w.counters().open);
  w.stop(5s);
  auto s = LedgerStore::open(dir.path() + "/l.db");
  REQUIRE(s);
  CHECK(s->count(kChainEvents).value() == 50);
  CHECK(verify_ledger(*s)->ok);
  std::fclose(out);
}

TEST_CASE("ledger writer: a ledger that cannot be opened fills the queue, then drops and counts") {
  test::TempDir dir;
  const std::string logfile = dir.path() + "/log";
  std::FILE* out = std::fopen(logfile.c_str(), "w+");
  EventLog log(out);
  {
    // A directory that does not exist: open fails and is retried later.
    LedgerWriter w({dir.path() + "/missing/l.db", 16, 1, 1, "r3"}, log);
    int accepted = 0;
    for (int i = 0; i < 40; ++i) accepted += w.push(state_row(i));
    CHECK(accepted == 16);
    CHECK(w.counters().dropped == 24);
    CHECK_FALSE(w.counters().open);
    w.stop(100ms);
  }
  std::fflush(out);
  CHECK(count_lines(logfile, "ledger queue full") == 1);  // one line per episode
  CHECK(count_lines(logfile, "cannot open the ledger") == 1);
  std::fclose(out);
}

TEST_CASE("ledger writer: dropped rows are recorded as a gap once rows are accepted again") {
  test::TempDir dir;
  std::FILE* out = std::tmpfile();
  EventLog log(out);
  const std::string path = dir.path() + "/later/l.db";
  {
    LedgerWriter w({path, 16, 400LL * 86'400'000, 35LL * 86'400'000, "r4"}, log);
    for (int i = 0; i < 40; ++i) w.push(state_row(i));
    CHECK(w.counters().dropped == 24);
    // The directory appears: the writer opens the file and writes its queue.
    std::filesystem::create_directory(dir.path() + "/later");
    REQUIRE(eventually([&] { return w.counters().rows == 16; }, 10s));
    CHECK(w.push(state_row(40)));
    REQUIRE(eventually([&] { return w.counters().rows == 18; }));
    w.stop(5s);
  }
  auto s = LedgerStore::open(path);
  REQUIRE(s);
  auto gaps = s->select(kChainEvents, {"rows_dropped"}, INT64_MIN, INT64_MAX);
  REQUIRE(gaps);
  REQUIRE(gaps->size() == 1);
  const auto& b = gaps->front().body;
  CHECK(b["rows"] == 24);
  CHECK(b["kinds"] == nlohmann::json{{"state", 24}});
  CHECK(b["targets"] == nlohmann::json{"sdb"});
  CHECK(b["from_ms"] == kNow + 16);
  CHECK(b["to_ms"] == kNow + 39);
  CHECK(b["run_id"] == "r4");
  CHECK(s->count(kChainEvents).value() == 18);
  CHECK(verify_ledger(*s)->ok);
  std::fclose(out);
}

TEST_CASE("ledger writer: the previous run's unclean end is recorded before this run's rows") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  {
    auto s = LedgerStore::open(path);
    REQUIRE(s);
    std::vector<LedgerRow> rows{
        {kChainEvents, 0, "start", kNow + 1000, "", {{"run_id", "old"}}},
        {kChainEvents, 0, "state", kNow + 2000, "sdb", {{"run_id", "old"}}},
        {kChainMinutes, 0, "alive", kNow + 61000, "", {{"run_id", "old"}}},
    };
    REQUIRE(s->append(rows));
  }
  std::FILE* out = std::tmpfile();
  EventLog log(out);
  {
    LedgerWriter w({path, 100, 400LL * 86'400'000, 35LL * 86'400'000, "new"}, log);
    w.push({kChainEvents, 0, "start", kNow + 90000, "", {{"run_id", "new"}}});
    w.stop(5s);
  }
  auto s = LedgerStore::open(path);
  auto rows = s->select(kChainEvents, {"unclean_end", "start"}, 0, INT64_MAX);
  REQUIRE(rows->size() == 3);
  const LedgerRow& end = (*rows)[1];
  CHECK(end.kind == "unclean_end");
  CHECK(end.body["run_id"] == "old");
  CHECK(end.body["last_seen_ms"] == kNow + 61000);  // its last alive row
  CHECK(end.ts_ms == kNow + 61000);
  CHECK((*rows)[2].body["run_id"] == "new");
  std::fclose(out);
}

namespace {

// A 16 MiB ext4 in a file, loop-mounted with errors=remount-ro, whose
// errors the test triggers through /sys/fs/ext4/<dev>/trigger_fs_error:
// the kernel then refuses writes as after real I/O errors (6.1 marks the
// superblock read-only, 6.x sets its emergency read-only state).
class ErrorableExt4 {
 public:
  ErrorableExt4() {
    const std::string img = dir_.path() + "/ext4.img", mnt = dir_.path() + "/mnt";
    std::filesystem::create_directory(mnt);
    REQUIRE(sh("truncate -s 16M " + img + " && mkfs.ext4 -q -F " + img + " && mount -o " +
               "loop,errors=remount-ro " + img + " " + mnt));
    mnt_ = mnt;
    std::FILE* p = ::popen(("findmnt -n -o SOURCE " + mnt).c_str(), "r");
    char buf[64] = {};
    if (p && std::fgets(buf, sizeof buf, p)) dev_ = std::filesystem::path(buf).filename();
    if (p) ::pclose(p);
    dev_.erase(dev_.find_last_not_of('\n') + 1);
  }
  ~ErrorableExt4() {
    if (!mnt_.empty()) sh("umount -l " + mnt_ + " 2>/dev/null");
  }
  ErrorableExt4(const ErrorableExt4&) = delete;
  ErrorableExt4& operator=(const ErrorableExt4&) = delete;

  std::string path(const std::string& name) const { return mnt_ + "/" + name; }
  void fail() { std::ofstream("/sys/fs/ext4/" + dev_ + "/trigger_fs_error") << "sanwatch test\n"; }
  bool umount() {
    if (!sh("umount " + mnt_ + " 2>/dev/null")) return false;
    mnt_.clear();
    return true;
  }

 private:
  static bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
  test::TempDir dir_;
  std::string mnt_, dev_;
};

}  // namespace

TEST_CASE("ledger writer: idle, it lets go of a filesystem that refuses writes (needs root)") {
  test::require_privileged("the read-only ledger filesystem test (loop mount, ext4 error trigger)");
  ErrorableExt4 fs;
  std::FILE* out = std::tmpfile();
  EventLog log(out);
  LedgerWriter w({fs.path("l.db"), 100, 400LL * 86'400'000, 35LL * 86'400'000, "r9"}, log);
  for (int i = 0; i < 5; ++i) CHECK(w.push(state_row(i)));
  REQUIRE(eventually([&] { return w.counters().rows == 5; }));
  fs.fail();
  // Nothing to write, so no commit fails: the writer must see it itself and
  // close the file within its 3 s of failing, or the filesystem could not
  // be unmounted for repair while the agent runs.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return !w.counters().open; }, 6s));
  WARN("closed " << std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count()
                 << " ms after the filesystem refused writes");
  CHECK(w.counters().write_errors == 0);
  // The repair's umount goes through between its retries to open.
  CHECK(eventually([&] { return fs.umount(); }, 5s));
  w.stop(100ms);
  std::fclose(out);
}
