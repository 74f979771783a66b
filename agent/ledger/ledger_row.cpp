// SPDX-License-Identifier: Apache-2.0
#include "ledger/ledger_row.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <ctime>
#include <memory>

namespace sanwatch {

std::string utc_ms(std::int64_t ms) {
  // gmtime_r, not fmt's chrono formatting: fmt 9 renders sys_time in the
  // local zone.
  const std::int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::time_t t = static_cast<std::time_t>(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms - sec * 1000);
}

std::string canonical_json(const LedgerRow& r) {
  const nlohmann::json j{{"body", r.body}, {"chain", r.chain},   {"kind", r.kind},
                         {"seq", r.seq},   {"target", r.target}, {"ts_ms", r.ts_ms}};
  return j.dump();
}

std::string chain_hash(const std::string& prev_hash, const std::string& canonical) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // SHA-256 cannot fail on a valid context; a failed allocation leaves the
  // hash empty, which verification then reports as a mismatch.
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) ||
      !EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size()) ||
      !EVP_DigestUpdate(ctx.get(), canonical.data(), canonical.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), md.data(), &len))
    return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace sanwatch
