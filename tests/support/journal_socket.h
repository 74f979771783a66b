// SPDX-License-Identifier: Apache-2.0
// A stand-in for journald's native socket (/run/systemd/journal/socket):
// a bound unix datagram socket whose datagrams are parsed as the native
// journal protocol, so a test can read what sd_journal_send(3) sent
// without a journald running. Pointing a process at it takes a mount
// namespace (libsystemd has the path built in); see journal_test.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sanwatch::test {

// One record: its fields in the order sent (a name may repeat).
struct JournalRecord {
  std::vector<std::pair<std::string, std::string>> fields;

  // The first value of `name`, "" when absent.
  std::string get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  // "NAME=value" lines, for failure messages.
  std::string dump() const;
};

// Parses one datagram: "NAME=value\n" fields, or "NAME\n", the value's
// length as 64-bit little endian, the value, "\n" (values with newlines).
// nullopt when it is malformed.
std::optional<JournalRecord> parse_journal_native(std::string_view data);

class JournalSocket {
 public:
  // Binds at `path` (which must not exist); throws std::runtime_error.
  explicit JournalSocket(const std::string& path);
  ~JournalSocket();
  JournalSocket(const JournalSocket&) = delete;
  JournalSocket& operator=(const JournalSocket&) = delete;

  // The next record, also kept in records(); nullopt on timeout. Large
  // records arrive as a sealed memfd passed with SCM_RIGHTS (what
  // libsystemd does when a datagram would be too big): read the same way.
  // Throws on a malformed record.
  std::optional<JournalRecord> receive(std::chrono::milliseconds timeout);
  // Receives until a record matches; nullopt on timeout.
  std::optional<JournalRecord> wait_for(const std::function<bool(const JournalRecord&)>& match,
                                        std::chrono::milliseconds timeout);
  const std::vector<JournalRecord>& records() const { return records_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<JournalRecord> records_;
};

}  // namespace sanwatch::test
