// SPDX-License-Identifier: Apache-2.0
#include "exporters/journal_sink.h"

// Without this, sd_journal_sendv adds CODE_FILE= (this file's build path),
// CODE_LINE= and CODE_FUNC=: noise in every record.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace sanwatch {
namespace {

using ojson = nlohmann::ordered_json;

struct StateIds {
  std::string_view state, message_id;
  int priority;
};

// Generated once (uuid4) and never changed: a change would orphan every
// saved query and catalog entry.
constexpr std::array<StateIds, 8> kStates = {{
    {"ok", "5237277027e741db9fce38cb623d84b3", 5},
    {"slow", "0ca2ca2b04734c69aec3736aabd20a7a", 4},
    {"degraded", "fcf0bb0cb9114085ab27e550972361f0", 4},
    {"flapping", "a23a92dc8265476e903671cf0715436c", 4},
    {"stalled", "d366120855244057b38946150c9e8ae9", 3},
    {"failed", "6cbbfc962c83472db19ee57018fe3160", 3},
    {"down", "cd00f09f19ca49ff9019f5dedd344bea", 3},
    {"gone", "0fbb49cddcde4bd1aac19c8d952a09a8", 3},
}};

const StateIds* find_state(std::string_view state) {
  for (const auto& s : kStates)
    if (s.state == state) return &s;
  return nullptr;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "Path sda of mpatha", "Multipath map mpatha", "Device dm-3 (vg-lv)".
std::string subject(const TargetIdentity& t) {
  if (t.type == "path") return "Path " + t.label + (t.map.empty() ? "" : " of " + t.map);
  if (t.type == "map") return "Multipath map " + t.label;
  if (t.type == "port") return "Array port " + t.label + (t.array.empty() ? "" : " of " + t.array);
  std::string s = "Device " + t.label;
  if (!t.dm_name.empty() && t.dm_name != t.label) s += " (" + t.dm_name + ")";
  return s;
}

// A JSON value as a journal field value: strings as they are, floats in
// their shortest exact form ("2.4379", "0"), other numbers as JSON has them.
std::string value_text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return v.dump();
}

// The journal's name for a JSON field; "" to leave it out.
std::string field_name(std::string_view key) {
  if (key == "event") return "";
  if (key == "to") return "SANWATCH_STATE";
  if (key == "paths") return "SANWATCH_PATH";
  return "SANWATCH_" + upper(key);
}

}  // namespace

int journal_priority(std::string_view state) {
  const StateIds* s = find_state(state);
  return s ? s->priority : 4;
}

std::string_view journal_message_id(std::string_view state) {
  const StateIds* s = find_state(state);
  return s ? s->message_id : std::string_view();
}

std::vector<std::string> journal_fields(const StateChange& c) {
  const std::string_view to = c.to();
  std::vector<std::string> f;
  f.push_back(fmt::format("MESSAGE={} is {} (was {}): {}", subject(c.target), to, c.from(),
                          c.transition.reason));
  if (const auto id = journal_message_id(to); !id.empty())
    f.push_back(fmt::format("MESSAGE_ID={}", id));
  f.push_back(fmt::format("PRIORITY={}", journal_priority(to)));
  f.push_back("SYSLOG_IDENTIFIER=sanwatch");
  const ojson line = state_json(c);  // named: items() would outlive a temporary
  for (const auto& [key, v] : line.items()) {
    const std::string name = field_name(key);
    if (name.empty()) continue;
    if (v.is_array()) {
      for (const auto& e : v)
        if (const std::string s = value_text(e); !s.empty()) f.push_back(name + "=" + s);
    } else if (const std::string s = value_text(v); !s.empty()) {
      f.push_back(name + "=" + s);
    }
  }
  return f;
}

std::optional<JournalStream> parse_journal_stream(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto number = [](std::string_view d, std::uint64_t& out) {
    const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), out);
    return !d.empty() && ec == std::errc() && end == d.data() + d.size();
  };
  std::uint64_t dev = 0, ino = 0;
  if (!number(s.substr(0, colon), dev) || !number(s.substr(colon + 1), ino)) return std::nullopt;
  return JournalStream{static_cast<dev_t>(dev), static_cast<ino_t>(ino)};
}

bool is_journal_stream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  const auto want = parse_journal_stream(journal_stream);
  struct stat st {};
  if (!want || fstat(fd, &st) != 0) return false;
  return st.st_dev == want->device && st.st_ino == want->inode;
}

std::optional<JournalSink> JournalSink::from_env() {
  if (!is_journal_stream(STDERR_FILENO, std::getenv("JOURNAL_STREAM"))) return std::nullopt;
  return JournalSink{};
}

Status JournalSink::send(const StateChange& c) const {
  std::vector<std::string> fields = journal_fields(c);
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (auto& s : fields) iov.push_back({s.data(), s.size()});
  const int rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  if (rc < 0) return Error{-rc, "sending a state change to the journal"};
  return {};
}

}  // namespace sanwatch
