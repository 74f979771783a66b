// SPDX-License-Identifier: Apache-2.0
// gunzip for tests that read a gzipped /metrics body.
#pragma once

#include <zlib.h>

#include <catch2/catch.hpp>
#include <string>

namespace gzip_test {

inline std::string gunzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);  // 15 + 16: gzip header and trailer
  std::string out(in.size() * 64 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

}  // namespace gzip_test
