// SPDX-License-Identifier: Apache-2.0
// Recomputes every chain of a ledger: seq without gaps, each prev_hash the
// hash before it (or a checkpoint's record of the pruned row), each hash the
// SHA-256 of its row as stored.
#include <fmt/format.h>

#include <map>

#include "ledger/ledger_store.h"

namespace sanwatch {
namespace {

// pruned_through_seq -> pruned_hash, from the chain's checkpoint rows.
Result<std::map<std::int64_t, std::string>> checkpoints(LedgerStore& store,
                                                        const std::string& chain) {
  auto rows = store.select(chain, {"checkpoint"}, INT64_MIN, INT64_MAX);
  if (!rows) return rows.error();
  std::map<std::int64_t, std::string> out;
  for (const LedgerRow& r : *rows) {
    const auto& b = r.body;
    if (b.contains("pruned_through_seq") && b["pruned_through_seq"].is_number_integer() &&
        b.contains("pruned_hash") && b["pruned_hash"].is_string())
      out[b["pruned_through_seq"].get<std::int64_t>()] = b["pruned_hash"].get<std::string>();
  }
  return out;
}

std::string row_name(const LedgerRow& r) {
  return fmt::format("{} #{} ({}{}, {})", r.chain, r.seq, r.kind,
                     r.target.empty() ? "" : " " + r.target, utc_ms(r.ts_ms));
}

}  // namespace

Result<VerifyReport> verify_ledger(LedgerStore& store) {
  VerifyReport rep;
  for (const char* chain : {kChainEvents, kChainMinutes, kChainHours}) {
    auto cps = checkpoints(store, chain);
    if (!cps) return cps.error();
    std::int64_t prev_seq = -1;
    std::string prev_hash;
    auto check = [&](const LedgerRow& r) -> Status {
      if (!rep.ok) return {};
      std::string expected;
      if (prev_seq < 0) {
        auto it = cps->find(r.seq - 1);
        if (r.seq == 1)
          expected = kGenesisHash;
        else if (it != cps->end())
          expected = it->second;
        else
          rep.why =
              fmt::format("rows before #{} are missing and no checkpoint records them", r.seq);
      } else if (r.seq != prev_seq + 1) {
        rep.why = fmt::format("rows #{}..#{} are missing", prev_seq + 1, r.seq - 1);
      } else {
        expected = prev_hash;
      }
      if (rep.why.empty() && r.body.is_null())
        rep.why = "its body is not valid JSON";
      else if (rep.why.empty() && r.prev_hash != expected)
        rep.why = "its prev_hash is not the hash of the row before it";
      else if (rep.why.empty() && r.hash != chain_hash(r.prev_hash, canonical_json(r)))
        rep.why = "its hash does not match its contents (the row was changed)";
      if (!rep.why.empty()) {
        rep.ok = false;
        rep.first_bad = row_name(r);
        return {};
      }
      ++rep.rows;
      prev_seq = r.seq;
      prev_hash = r.hash;
      return {};
    };
    if (auto st = store.for_each(chain, check); !st) return st.error();
    if (!rep.ok) return rep;
    if (prev_seq >= 0) rep.heads.emplace_back(chain, prev_hash);
  }
  return rep;
}

}  // namespace sanwatch
