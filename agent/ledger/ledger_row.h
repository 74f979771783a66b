// SPDX-License-Identifier: Apache-2.0
// One row of the ledger: an append-only entry in one of its hash chains.
// Every fact the ledger keeps is such a row with a JSON body; the columns
// beside the body exist to find rows, the hash covers them all.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "detect/down_states.h"

namespace sanwatch {

// The chains: each is pruned only from its oldest end, so each stays
// verifiable on its own. Minute rollups are compacted into hours after a
// while, hours and events are dropped after the retention.
inline constexpr const char* kChainEvents = "events";    // coverage, states, incidents
inline constexpr const char* kChainMinutes = "minutes";  // per-target minute rollups
inline constexpr const char* kChainHours = "hours";      // compacted rollups

struct LedgerRow {
  std::string chain = kChainEvents;
  std::int64_t seq = 0;    // 1, 2, ... within the chain; set on append
  std::string kind;        // start, stop, unclean_end, state, incident_open, incident,
                           // rows_dropped, alive, minute, hour, checkpoint
  std::int64_t ts_ms = 0;  // wall clock (Unix ms) the row is about
  std::string target;      // target label, empty when none
  nlohmann::json body = nlohmann::json::object();  // keys sorted: canonical
  std::string prev_hash, hash;                     // hex SHA-256; set on append
};

// The bytes a row's hash covers: every column but the hashes, as compact
// JSON with sorted keys (nlohmann::json's object order).
std::string canonical_json(const LedgerRow& r);
// hash = SHA-256(prev_hash ‖ canonical JSON), lower-case hex.
std::string chain_hash(const std::string& prev_hash, const std::string& canonical);
// Unix ms as RFC 3339 UTC: "2026-12-04T10:00:00.123Z".
std::string utc_ms(std::int64_t ms);
// The first row's prev_hash.
inline const std::string kGenesisHash(64, '0');

}  // namespace sanwatch
