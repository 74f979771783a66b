// SPDX-License-Identifier: Apache-2.0
// The Prometheus text exposition format (0.0.4) for prometheus-cpp's metric
// families, written with fmt into one buffer. prometheus-cpp's own
// TextSerializer goes through std::ostream and printf for every value: at
// 1024 devices (~80k series) it took ~35 ms of a ~42 ms scrape; this takes a
// few. Its output is the oracle in the unit tests.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace sanwatch {

// Appends the exposition of `families` to `out`.
void write_text_exposition(const std::vector<prometheus::MetricFamily>& families, std::string& out);

// Whether an Accept-Encoding header value admits gzip (and not as q=0).
bool accepts_gzip(std::string_view accept_encoding);

// gzip (RFC 1952) of `in` at zlib `level` (1 = fastest). Empty on failure,
// which zlib reports only for memory exhaustion.
std::string gzip_compress(std::string_view in, int level);

}  // namespace sanwatch
