// SPDX-License-Identifier: Apache-2.0
// Basic auth for /metrics against bcrypt hashes (web.yml's
// basic_auth_users), checked with libxcrypt's crypt_rn().
//
// A bcrypt check costs tens of milliseconds of CPU on the server's one
// thread, so: successful checks are remembered (keyed by an HMAC of user,
// password and hash under a per-process random key, so that no password is
// kept), and the checks that do run are rationed by token buckets per
// source address and in total; over the budget a request is refused
// without checking.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sanwatch {

// Does `password` match the bcrypt (or any crypt(5)) `hash`? Compared in
// constant time.
bool crypt_verify(std::string_view password, const std::string& hash);

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double per_second, double burst, Clock::time_point now)
      : rate_(per_second), burst_(burst), tokens_(burst), last_(now) {}
  bool take(Clock::time_point now);
  // Back to a full bucket by `now`: nothing to remember about this source.
  bool full(Clock::time_point now) const;

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

struct AuthRateLimits {
  double per_ip_rate = 1.0;        // bcrypt checks per second for one source address...
  double per_ip_burst = 4;         // ...after a burst of this many
  double global_rate = 4.0;        // and for all sources together: at ~70 ms a check,
  double global_burst = 8;         // at most ~30 % of the server thread
  std::size_t max_sources = 4096;  // addresses tracked; past it only the global bucket counts
};

// Pure: the caller passes the time.
class AuthRateLimiter {
 public:
  explicit AuthRateLimiter(const AuthRateLimits& l = {},
                           TokenBucket::Clock::time_point now = TokenBucket::Clock::now());
  // Takes a token from the source's bucket and the global one; false when
  // either is empty (then neither is charged).
  bool allow(const std::string& source, TokenBucket::Clock::time_point now);
  std::size_t tracked() const { return per_ip_.size(); }

 private:
  AuthRateLimits limits_;
  TokenBucket global_;
  std::map<std::string, TokenBucket> per_ip_;
};

enum class AuthResult { kOk, kCached, kWrong, kThrottled };

class BasicAuth {
 public:
  explicit BasicAuth(std::vector<std::pair<std::string, std::string>> users,
                     const AuthRateLimits& limits = {});
  ~BasicAuth();
  // Thread-safe. `source`: the client's address bytes (the rate-limit key).
  AuthResult check(std::string_view user, std::string_view password, const std::string& source,
                   TokenBucket::Clock::time_point now = TokenBucket::Clock::now());
  std::uint64_t verifications() const;  // bcrypt checks actually run

 private:
  using Key = std::array<unsigned char, 32>;
  Key cache_key(std::string_view user, std::string_view password, const std::string& hash) const;

  std::vector<std::pair<std::string, std::string>> users_;
  std::array<unsigned char, 32> secret_{};
  mutable std::mutex mu_;
  AuthRateLimiter limiter_;
  std::set<Key> ok_;  // successful (user, password, hash) checks
  std::uint64_t verifications_ = 0;
};

}  // namespace sanwatch
