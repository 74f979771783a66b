// SPDX-License-Identifier: Apache-2.0
#include "exporters/basic_auth.h"

#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <algorithm>
#include <cstring>

namespace sanwatch {
namespace {

// Successful checks remembered; a scraper or a few need a handful. Past
// it the set starts over (a few bcrypt checks again), which bounds memory
// whatever a client sends.
constexpr std::size_t kMaxCached = 1024;

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool crypt_verify(std::string_view password, const std::string& hash) {
  // crypt() takes a C string: a password with a NUL byte cannot be the
  // one that was hashed.
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string phrase(password);
  // ~32 KiB of scratch space: on the heap, not on the server thread's stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof *data);
  const bool ok = out && out[0] != '*' && equal_constant_time(out, hash);
  explicit_bzero(data.get(), sizeof *data);  // it held the password
  return ok;
}

bool TokenBucket::take(Clock::time_point now) {
  if (now > last_) {
    tokens_ =
        std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool TokenBucket::full(Clock::time_point now) const {
  return tokens_ + std::chrono::duration<double>(now - last_).count() * rate_ >= burst_;
}

AuthRateLimiter::AuthRateLimiter(const AuthRateLimits& l, TokenBucket::Clock::time_point now)
    : limits_(l), global_(l.global_rate, l.global_burst, now) {}

bool AuthRateLimiter::allow(const std::string& source, TokenBucket::Clock::time_point now) {
  auto it = per_ip_.find(source);
  if (it == per_ip_.end()) {
    if (per_ip_.size() >= limits_.max_sources)
      std::erase_if(per_ip_, [now](const auto& kv) { return kv.second.full(now); });
    if (per_ip_.size() < limits_.max_sources)
      it = per_ip_.emplace(source, TokenBucket(limits_.per_ip_rate, limits_.per_ip_burst, now))
               .first;
  }
  // Check the source's bucket on a copy first, so that a refusal by the
  // global bucket does not charge the source (and the reverse).
  if (it != per_ip_.end()) {
    TokenBucket trial = it->second;
    if (!trial.take(now)) return false;
    if (!global_.take(now)) return false;
    it->second = trial;
    return true;
  }
  return global_.take(now);
}

BasicAuth::BasicAuth(std::vector<std::pair<std::string, std::string>> users,
                     const AuthRateLimits& limits)
    : users_(std::move(users)), limiter_(limits) {
  gnutls_rnd(GNUTLS_RND_KEY, secret_.data(), secret_.size());
}

BasicAuth::~BasicAuth() { explicit_bzero(secret_.data(), secret_.size()); }

BasicAuth::Key BasicAuth::cache_key(std::string_view user, std::string_view password,
                                    const std::string& hash) const {
  std::string text;
  text.reserve(user.size() + password.size() + hash.size() + 2);
  text.append(user).push_back('\0');
  text.append(password).push_back('\0');
  text.append(hash);
  Key k{};
  gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret_.data(), secret_.size(), text.data(), text.size(),
                   k.data());
  explicit_bzero(text.data(), text.size());
  return k;
}

AuthResult BasicAuth::check(std::string_view user, std::string_view password,
                            const std::string& source, TokenBucket::Clock::time_point now) {
  if (users_.empty()) return AuthResult::kWrong;
  const auto it =
      std::find_if(users_.begin(), users_.end(), [&](const auto& u) { return u.first == user; });
  // An unknown user costs the same check as a known one (against the first
  // user's hash, result discarded): the timing does not tell which exist.
  const std::string& hash = it != users_.end() ? it->second : users_.front().second;
  const Key key = cache_key(user, password, hash);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (it != users_.end() && ok_.count(key)) return AuthResult::kCached;
    if (!limiter_.allow(source, now)) return AuthResult::kThrottled;
    ++verifications_;
  }
  const bool match = crypt_verify(password, hash) && it != users_.end();
  if (!match) return AuthResult::kWrong;
  std::lock_guard<std::mutex> lock(mu_);
  if (ok_.size() >= kMaxCached) ok_.clear();
  ok_.insert(key);
  return AuthResult::kOk;
}

std::uint64_t BasicAuth::verifications() const {
  std::lock_guard<std::mutex> lock(mu_);
  return verifications_;
}

}  // namespace sanwatch
