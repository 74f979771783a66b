// SPDX-License-Identifier: Apache-2.0
// A minimal PNG reader for tests that look at screenshots: 8-bit greyscale,
// RGB or RGBA, non-interlaced (what Chromium writes), decoded with zlib.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sanwatch::test {

using Rgb = std::array<std::uint8_t, 3>;

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes a pixel

  Rgb at(int x, int y) const {
    const std::size_t i = (static_cast<std::size_t>(y) * width + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

// Throws std::runtime_error on anything it does not support or a corrupt file.
RgbImage decode_png(const std::string& bytes);
RgbImage read_png(const std::string& path);

}  // namespace sanwatch::test
