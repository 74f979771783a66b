// SPDX-License-Identifier: Apache-2.0
#include "host/dm_status.h"

#include <linux/dm-ioctl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>

using namespace sanwatch;

namespace {

// From block-layer-facts.md: the params of `dmsetup table`, then of
// `dmsetup status` healthy and with path 8:16 failed once (what the ioctl
// returns; dmsetup prefixes "0 131072 multipath").
constexpr std::string_view kTable = "0 0 1 1 round-robin 0 2 1 8:0 1 8:16 1";
constexpr std::string_view kHealthy = "2 0 0 0 1 1 A 0 2 0 8:0 A 0 8:16 A 0";
constexpr std::string_view kFailed = "2 0 0 0 1 1 A 0 2 0 8:0 A 0 8:16 F 1";

// A typical ALUA array map (two groups, service-time), as dm-mpath's
// multipath_status() formats it: the table carries the features and the hw
// handler, the status "2 <queue_io> <pg_init_count>" and "0".
constexpr std::string_view kAluaTable =
    "1 queue_if_no_path 1 alua 2 1 service-time 0 2 2 8:16 1 1 8:48 1 1 "
    "service-time 0 2 2 8:32 1 1 8:64 1 1 ";
constexpr std::string_view kAluaStatus =
    "2 0 1 0 2 1 A 0 2 2 8:16 A 0 0 1 8:48 A 0 0 1 E 0 2 2 8:32 F 3 0 1 8:64 A 0 0 1 ";

MpathStatus status_of(std::string_view params) {
  auto s = parse_multipath_status(params);
  INFO(params);
  if (!s) FAIL(s.error().message());
  return *s;
}

std::string error_of(std::string_view params, bool table = false) {
  if (table) {
    auto t = parse_multipath_table(params);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().err == EINVAL);
    return t.error().message();
  }
  auto s = parse_multipath_status(params);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().err == EINVAL);
  return s.error().message();
}

// Builds a DM_TABLE_STATUS data area: dm_target_spec + params + 8-byte
// alignment, `next` counted from the start of the area (as the kernel does).
struct SpecBuffer {
  std::vector<std::byte> data;
  std::vector<std::size_t> spec_offsets;

  SpecBuffer& add(std::uint64_t start, std::uint64_t len, const char* type,
                  std::string_view params) {
    dm_target_spec spec{};
    spec.sector_start = start;
    spec.length = len;
    // Deliberately no NUL when the name fills the field.
    std::memcpy(spec.target_type, type, std::min(std::strlen(type), sizeof spec.target_type));
    const std::size_t off = data.size();
    spec_offsets.push_back(off);
    std::size_t end = off + sizeof spec + params.size() + 1;
    end = (end + 7) & ~std::size_t{7};
    spec.next = static_cast<std::uint32_t>(end);
    data.resize(end);
    std::memcpy(data.data() + off, &spec, sizeof spec);
    std::memcpy(data.data() + off + sizeof spec, params.data(), params.size());
    return *this;
  }
  void set_next(std::size_t index, std::uint32_t next) {
    std::memcpy(data.data() + spec_offsets[index] + offsetof(dm_target_spec, next), &next,
                sizeof next);
  }
};

std::vector<std::byte> reply_with(const SpecBuffer& b, std::uint32_t count) {
  dm_ioctl io{};
  io.version[0] = DM_VERSION_MAJOR;
  io.data_start = sizeof io;
  io.data_size = static_cast<std::uint32_t>(sizeof io + b.data.size());
  io.target_count = count;
  std::vector<std::byte> buf(sizeof io + b.data.size());
  std::memcpy(buf.data(), &io, sizeof io);
  std::memcpy(buf.data() + sizeof io, b.data.data(), b.data.size());
  return buf;
}

}  // namespace

TEST_CASE("dmsetup table from the facts file") {
  auto t = parse_multipath_table(kTable);
  REQUIRE(t.ok());
  CHECK(t->features.empty());
  CHECK_FALSE(t->queue_if_no_path());
  CHECK(t->hw_handler.empty());
  CHECK(t->next_group == 1);
  REQUIRE(t->groups.size() == 1);
  CHECK(t->groups[0].selector == "round-robin");
  CHECK(t->groups[0].selector_args.empty());
  REQUIRE(t->groups[0].paths.size() == 2);
  CHECK(t->groups[0].paths[0].dev == DevId{8, 0});
  CHECK(t->groups[0].paths[1].dev == DevId{8, 16});
  CHECK(t->groups[0].paths[1].selector_args == std::vector<std::string>{"1"});
}

TEST_CASE("dmsetup status from the facts file: healthy, then one path failed") {
  const MpathStatus h = status_of(kHealthy);
  CHECK(h.features == std::vector<std::string>{"0", "0"});
  CHECK_FALSE(h.queueing_io());
  CHECK(h.next_group == 1);
  REQUIRE(h.groups.size() == 1);
  CHECK(h.groups[0].state == 'A');
  REQUIRE(h.groups[0].paths.size() == 2);
  CHECK(h.groups[0].paths[1].dev == DevId{8, 16});
  CHECK(h.groups[0].paths[1].active);
  CHECK(h.groups[0].paths[1].fail_count == 0);
  CHECK(h.valid_paths() == 2);
  CHECK(h.total_paths() == 2);

  const MpathStatus f = status_of(kFailed);
  CHECK(f.groups[0].paths[0].active);
  CHECK_FALSE(f.groups[0].paths[1].active);
  CHECK(f.groups[0].paths[1].fail_count == 1);
  CHECK(f.valid_paths() == 1);
}

TEST_CASE("two path groups with ALUA, service-time and queue_if_no_path") {
  auto t = parse_multipath_table(kAluaTable);
  REQUIRE(t.ok());
  CHECK(t->queue_if_no_path());
  CHECK(t->hw_handler == std::vector<std::string>{"alua"});
  REQUIRE(t->groups.size() == 2);
  CHECK(t->groups[1].selector == "service-time");
  CHECK(t->groups[1].paths[0].selector_args == std::vector<std::string>{"1", "1"});

  const MpathStatus s = status_of(kAluaStatus);
  CHECK(s.queueing_io() == false);
  CHECK(s.features == std::vector<std::string>{"0", "1"});  // one pg_init so far
  REQUIRE(s.groups.size() == 2);
  CHECK(s.groups[0].state == 'A');
  CHECK(s.groups[1].state == 'E');
  CHECK(s.groups[1].paths[0].dev == DevId{8, 32});
  CHECK_FALSE(s.groups[1].paths[0].active);
  CHECK(s.groups[1].paths[0].fail_count == 3);
  CHECK(s.groups[1].paths[0].selector_args == std::vector<std::string>{"0", "1"});
  CHECK(s.valid_paths() == 3);
  CHECK(s.total_paths() == 4);
  CHECK(active_group(s) == 1);
}

TEST_CASE("the group carrying I/O, from the lab's iSCSI/ALUA maps") {
  // Before any I/O (all groups E): the next group; after the failover of
  // group 1 to standby: group 2 is A.
  CHECK(active_group(status_of("2 1 0 0 2 1 E 0 1 0 8:0 A 0 E 0 1 0 8:32 A 0")) == 1);
  CHECK(active_group(status_of("2 0 1 0 2 2 E 0 1 0 8:0 F 1 A 0 1 0 8:16 A 0")) == 2);
  CHECK(active_group(status_of("2 0 1 0 2 2 E 0 1 0 8:0 F 1 E 0 1 0 8:16 F 1")) == 2);
  CHECK(active_group(MpathStatus{}) == 0);
}

TEST_CASE("table features with arguments, and all paths down while queueing") {
  auto t = parse_multipath_table(
      "5 queue_if_no_path pg_init_retries 50 queue_mode bio 0 1 1 round-robin 0 1 1 8:0 1000");
  REQUIRE(t.ok());
  CHECK(t->queue_if_no_path());
  CHECK(t->features.size() == 5);
  auto plain = parse_multipath_table("2 queue_mode bio 0 1 1 round-robin 0 1 1 8:0 1");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->queue_if_no_path());

  const MpathStatus down = status_of("2 1 0 0 1 1 E 0 2 0 8:0 F 4 8:16 F 2");
  CHECK(down.queueing_io());
  CHECK(down.valid_paths() == 0);
  const MpathStatus empty = status_of("2 0 0 0 0 0");
  CHECK(empty.groups.empty());
  CHECK(empty.valid_paths() == 0);
}

TEST_CASE("malformed and hostile multipath lines are rejected with a clear error") {
  CHECK_THAT(error_of(""), Catch::Contains("#feature args") && Catch::Contains("line ends"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 2 0 8:0 A"), Catch::Contains("do not fit"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 2 0 8:0 A 0"), Catch::Contains("do not fit"));
  CHECK_THAT(error_of("2 0 0 0 99999999999 1"), Catch::Contains("not a number"));
  CHECK_THAT(error_of("2 0 0 0 4294967295 1"), Catch::Contains("exceeds 1024"));
  CHECK_THAT(error_of("2 0 0 0 1025 1"), Catch::Contains("exceeds 1024"));
  CHECK_THAT(error_of("2 0 0 0 1000 1 A 0 2 0 8:0 A 0 8:16 A 0"), Catch::Contains("do not fit"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1024 0 8:0 A 0"), Catch::Contains("do not fit"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1 1000 8:0 A 0"), Catch::Contains("do not fit"));
  CHECK_THAT(error_of("99 0 0"), Catch::Contains("line ends"));
  CHECK_THAT(error_of("2 0 0 0 1 2 A 0 1 0 8:0 A 0"), Catch::Contains("next path group"));
  CHECK_THAT(error_of("2 0 0 0 1 1 X 0 1 0 8:0 A 0"), Catch::Contains("not A, E or D"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1 0 8:0 Q 0"), Catch::Contains("not A or F"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1 0 sda A 0"), Catch::Contains("not MAJ:MIN"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1 0 8:0 A -1"), Catch::Contains("not a number"));
  CHECK_THAT(error_of("2 0 0 0 1 1 A 0 1 0 8:0 A 0 extra"), Catch::Contains("trailing"));
  CHECK_THAT(error_of("-1 0 0 0"), Catch::Contains("not a number"));
  // A status line is not a table line and vice versa.
  CHECK_THAT(error_of(std::string(kHealthy), true), Catch::Contains("multipath table"));
  CHECK_THAT(error_of("0 0 1 1 round-robin 0 2 1 8:0 1 8:16"), Catch::Contains("not A, E or D"));
  CHECK_THAT(error_of("0 0 1 1 round-robin 0 2 1 8:0 1 8:16", true), Catch::Contains("do not fit"));
}

TEST_CASE("target-spec walker reads well-formed buffers") {
  SpecBuffer b;
  b.add(0, 100, "linear", "8:0 0").add(100, 131072, "multipath", kHealthy);
  auto t = parse_target_specs(b.data, 2);
  REQUIRE(t.ok());
  REQUIRE(t->size() == 2);
  CHECK((*t)[0].type == "linear");
  CHECK((*t)[0].params == "8:0 0");
  CHECK((*t)[1].start == 100);
  CHECK((*t)[1].length == 131072);
  CHECK((*t)[1].type == "multipath");
  CHECK((*t)[1].params == kHealthy);

  auto none = parse_target_specs(b.data, 0);
  REQUIRE(none.ok());
  CHECK(none->empty());

  auto whole = parse_status_reply(reply_with(b, 2));
  REQUIRE(whole.ok());
  CHECK(whole->size() == 2);
}

TEST_CASE("target-spec walker rejects crafted buffers without reading out of bounds") {
  SpecBuffer b;
  b.add(0, 8, "linear", "8:0 0").add(8, 8, "linear", "8:16 0");

  SECTION("more targets than entries") { CHECK_FALSE(parse_target_specs(b.data, 3).ok()); }
  SECTION("absurd count on a short chain") {
    CHECK_FALSE(parse_target_specs(b.data, UINT32_MAX).ok());
  }
  SECTION("next far out of bounds") {
    b.set_next(0, 0xfffffff0u);
    auto r = parse_target_specs(b.data, 2);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("overruns"));
  }
  SECTION("next just past the end, header would straddle it") {
    b.set_next(0, static_cast<std::uint32_t>(b.data.size() - 4));
    CHECK_FALSE(parse_target_specs(b.data, 2).ok());
  }
  SECTION("next pointing back to itself (a loop)") {
    b.set_next(0, 0);
    auto r = parse_target_specs(b.data, 2);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("points back"));
  }
  SECTION("next pointing into its own parameter string") {
    b.set_next(0, sizeof(dm_target_spec) + 2);
    CHECK_FALSE(parse_target_specs(b.data, 2).ok());
  }
  SECTION("parameters without a terminating NUL") {
    auto cut = std::span<const std::byte>(b.data).first(sizeof(dm_target_spec) + 3);
    auto r = parse_target_specs(cut, 1);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("NUL"));
  }
  SECTION("buffer shorter than one spec") {
    auto cut = std::span<const std::byte>(b.data).first(sizeof(dm_target_spec) - 1);
    CHECK_FALSE(parse_target_specs(cut, 1).ok());
  }
  SECTION("a 16-byte target type without NUL is cut, not overread") {
    SpecBuffer c;
    c.add(0, 8, "abcdefghijklmnopqrstu", "x");
    auto r = parse_target_specs(c.data, 1);
    REQUIRE(r.ok());
    CHECK((*r)[0].type == "abcdefghijklmnop");
  }
}

TEST_CASE("status reply header is validated") {
  SpecBuffer b;
  b.add(0, 8, "linear", "8:0 0");
  auto reply = reply_with(b, 1);
  dm_ioctl io;
  std::memcpy(&io, reply.data(), sizeof io);
  auto with = [&](auto mutate) {
    dm_ioctl copy = io;
    mutate(copy);
    auto buf = reply;
    std::memcpy(buf.data(), &copy, sizeof copy);
    return parse_status_reply(buf);
  };
  CHECK(with([](dm_ioctl&) {}).ok());
  CHECK_FALSE(with([](dm_ioctl& h) { h.data_start = 8; }).ok());
  CHECK_FALSE(with([](dm_ioctl& h) { h.data_size += 1; }).ok());
  CHECK_FALSE(with([](dm_ioctl& h) { h.data_start = h.data_size + 8; }).ok());
  auto full = with([](dm_ioctl& h) { h.flags |= DM_BUFFER_FULL_FLAG; });
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().err == EOVERFLOW);
  CHECK_FALSE(parse_status_reply(std::span<const std::byte>(reply).first(100)).ok());
}

TEST_CASE("dm ioctls fail with a clear error where there is no device-mapper") {
  auto missing = dm_status("mpatha", false, "/nonexistent/mapper/control");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().err == ENOENT);
  CHECK_THAT(missing.error().message(),
             Catch::Contains("/nonexistent/mapper/control") && Catch::Contains("dm_mod"));

  auto not_dm = dm_status("mpatha", true, "/dev/null");
  REQUIRE_FALSE(not_dm.ok());
  CHECK(not_dm.error().err == ENOTTY);
  CHECK_THAT(not_dm.error().message(), Catch::Contains("DM_TABLE_STATUS"));

  CHECK(read_multipath("mpatha", "/nonexistent/mapper/control").error().err == ENOENT);
  CHECK(dm_status("", false, "/dev/null").error().err == EINVAL);
  CHECK(dm_status(std::string(200, 'x'), false, "/dev/null").error().err == EINVAL);
}
