// SPDX-License-Identifier: Apache-2.0
// State changes to journald as structured fields, next to the JSON line, so
// `journalctl -u sanwatch SANWATCH_STATE=stalled` finds them without
// parsing. Only when stderr really is the journal (JOURNAL_STREAM names it):
// elsewhere the JSON line is the whole record, and a native record would go
// to a journal nobody asked for.
//
// Every field of the JSON line is there as SANWATCH_<FIELD> (upper case),
// except `to`, which is SANWATCH_STATE, `event`, which is implied, and the
// port's `paths`, one SANWATCH_PATH per path; empty values are left out.
// Added: MESSAGE (one sentence), PRIORITY (by the new state),
// MESSAGE_ID (one fixed id per new state) and SYSLOG_IDENTIFIER=sanwatch.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "detect/state_change.h"

namespace sanwatch {

// syslog(3) priority of a change into `state`: 5 (notice) for ok, 4
// (warning) for slow, degraded and flapping, 3 (err) for stalled, failed,
// down and gone; crit and above stay for the host as a whole.
int journal_priority(std::string_view state);

// The MESSAGE_ID of a change into `state`: 32 hex digits, fixed for ever
// (queries and catalogs name them), "" for an unknown state.
std::string_view journal_message_id(std::string_view state);

// The record of one state change as "KEY=value" fields, in a fixed order:
// MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER, then the JSON line's
// fields in its order. Values may hold any byte (sd_journal_sendv encodes
// newlines). Pure.
std::vector<std::string> journal_fields(const StateChange& c);

// JOURNAL_STREAM's "<device>:<inode>" (decimal, as systemd writes it).
struct JournalStream {
  dev_t device = 0;
  ino_t inode = 0;
};
std::optional<JournalStream> parse_journal_stream(std::string_view s);

// True when `fd` is the stream JOURNAL_STREAM names (systemd.exec(5): a
// child that inherited the variable may have its stderr somewhere else).
bool is_journal_stream(int fd, const char* journal_stream);

// Sends state changes to the local journal (sd_journal_sendv; libsystemd
// keeps its socket). Runs on the thread that announces the change, like
// the stderr line: both wait on the same journald, so this adds no new way
// to block.
class JournalSink {
 public:
  // A sink when stderr is the journal, else nullopt.
  static std::optional<JournalSink> from_env();

  Status send(const StateChange& c) const;
};

}  // namespace sanwatch
