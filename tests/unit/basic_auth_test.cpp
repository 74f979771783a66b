// SPDX-License-Identifier: Apache-2.0
// Basic auth against bcrypt hashes: crypt_rn() on a hash made with
// crypt() at test time and on published $2a$/$2y$ vectors, the cache of
// successful checks, and the token buckets that ration bcrypt checks.
#include "exporters/basic_auth.h"

#include <crypt.h>

#include <catch2/catch.hpp>
#include <chrono>

using namespace sanwatch;
using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

namespace {

// A fresh $2b$ hash of `password` at `cost`, through libxcrypt.
std::string bcrypt_hash(const std::string& password, unsigned long cost) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", cost, nullptr, 0, setting, sizeof setting));
  crypt_data data{};
  const char* h = crypt_rn(password.c_str(), setting, &data, sizeof data);
  REQUIRE(h);
  REQUIRE(h[0] == '$');
  return h;
}

}  // namespace

TEST_CASE("bcrypt: a hash made now verifies its password and no other") {
  const std::string h = bcrypt_hash("s3cret", 4);
  CHECK(h.starts_with("$2b$04$"));
  CHECK(h.size() == 60);
  CHECK(crypt_verify("s3cret", h));
  CHECK(!crypt_verify("s3cret ", h));
  CHECK(!crypt_verify("", h));
  CHECK(!crypt_verify(std::string_view("s3cret\0x", 8), h));
  CHECK(!crypt_verify("s3cret", "not a hash"));
  CHECK(!crypt_verify("s3cret", ""));
}

TEST_CASE("bcrypt: published vectors ($2a$ from jBCrypt, the same hash as $2y$, htpasswd's)") {
  CHECK(crypt_verify("abc", "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"));
  CHECK(crypt_verify("abc", "$2y$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"));
  CHECK(crypt_verify("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."));
  CHECK(crypt_verify("abcdefghijklmnopqrstuvwxyz",
                     "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC"));
  CHECK(!crypt_verify("abd", "$2y$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"));
}

TEST_CASE("bcrypt: cost of one check at cost 10 (what htpasswd -B makes)") {
  const std::string h = bcrypt_hash("pw", 10);
  const auto t0 = Clock::now();
  CHECK(crypt_verify("pw", h));
  const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  WARN("one bcrypt check at cost 10: " << ms << " ms");
  CHECK(ms > 1);
}

TEST_CASE("token bucket: a burst, then the refill rate") {
  const auto t0 = Clock::now();
  TokenBucket b(2.0, 3, t0);
  CHECK(b.take(t0));
  CHECK(b.take(t0));
  CHECK(b.take(t0));
  CHECK(!b.take(t0));
  CHECK(!b.take(t0 + 400ms));  // 0.8 of a token
  CHECK(b.take(t0 + 500ms));
  CHECK(!b.full(t0 + 500ms));
  CHECK(b.full(t0 + 2s));
  CHECK(b.take(t0 + 10s));  // capped at the burst
  CHECK(b.take(t0 + 10s));
  CHECK(b.take(t0 + 10s));
  CHECK(!b.take(t0 + 10s));
}

TEST_CASE("rate limit: per source and in total; a refused source is not charged") {
  const auto t0 = Clock::now();
  AuthRateLimits l;
  l.per_ip_rate = 1;
  l.per_ip_burst = 2;
  l.global_rate = 1;
  l.global_burst = 3;
  l.max_sources = 2;
  AuthRateLimiter r(l, t0);
  CHECK(r.allow("a", t0));
  CHECK(r.allow("a", t0));
  CHECK(!r.allow("a", t0));  // a's bucket is empty
  CHECK(r.allow("b", t0));   // the global bucket's last token
  CHECK(!r.allow("c", t0));  // global empty; c is not tracked (max_sources)
  CHECK(r.tracked() == 2);
  CHECK(r.allow("b", t0 + 1s));
  CHECK(!r.allow("b", t0 + 1s));  // global empty, b keeps its token
  CHECK(r.allow("b", t0 + 2s));
  // After a long quiet time every source bucket is full again: forgotten
  // to make room for a new source.
  CHECK(r.allow("c", t0 + 60s));
  CHECK(r.tracked() == 1);
}

TEST_CASE("basic auth: right, wrong, unknown user; successes cached; throttled over budget") {
  const std::string h = bcrypt_hash("right", 4);
  AuthRateLimits l;
  l.per_ip_burst = 3;
  l.per_ip_rate = 0.001;
  BasicAuth a({{"prometheus", h}}, l);
  const auto t0 = Clock::now();
  CHECK(a.check("prometheus", "right", "ip1", t0) == AuthResult::kOk);
  CHECK(a.verifications() == 1);
  for (int i = 0; i < 100; ++i)
    REQUIRE(a.check("prometheus", "right", "ip1", t0) == AuthResult::kCached);
  CHECK(a.verifications() == 1);  // a scrape every 15 s costs no bcrypt
  CHECK(a.check("prometheus", "wrong", "ip1", t0) == AuthResult::kWrong);
  CHECK(a.check("nobody", "right", "ip1", t0) == AuthResult::kWrong);  // same cost, no entry
  CHECK(a.verifications() == 3);
  CHECK(a.check("prometheus", "wrong", "ip1", t0) == AuthResult::kThrottled);
  CHECK(a.check("nobody", "right", "ip1", t0) == AuthResult::kThrottled);
  CHECK(a.verifications() == 3);
  // The right password is still served from the cache, throttled or not;
  // another source has its own budget.
  CHECK(a.check("prometheus", "right", "ip1", t0) == AuthResult::kCached);
  CHECK(a.check("prometheus", "wrong", "ip2", t0) == AuthResult::kWrong);
}
