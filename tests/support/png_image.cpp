// SPDX-License-Identifier: Apache-2.0
#include "png_image.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sanwatch::test {
namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i]));
  };
  return b(at) << 24 | b(at + 1) << 16 | b(at + 2) << 8 | b(at + 3);
}

std::uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<std::uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

// Reverses the per-row filters in place (PNG spec, section 9).
void unfilter(std::vector<std::uint8_t>& raw, int height, std::size_t stride, std::size_t bpp) {
  std::vector<std::uint8_t> zero(stride, 0);
  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = raw.data() + y * (stride + 1);
    const std::uint8_t filter = row[0];
    std::uint8_t* cur = row + 1;
    const std::uint8_t* prev = y == 0 ? zero.data() : row - stride;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      switch (filter) {
        case 0:
          break;
        case 1:
          cur[x] = static_cast<std::uint8_t>(cur[x] + a);
          break;
        case 2:
          cur[x] = static_cast<std::uint8_t>(cur[x] + b);
          break;
        case 3:
          cur[x] = static_cast<std::uint8_t>(cur[x] + (a + b) / 2);
          break;
        case 4:
          cur[x] = static_cast<std::uint8_t>(cur[x] + paeth(a, b, c));
          break;
        default:
          throw std::runtime_error("png: bad filter type");
      }
    }
  }
}

}  // namespace

RgbImage decode_png(const std::string& bytes) {
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0)
    throw std::runtime_error("png: not a PNG file");
  RgbImage img;
  int colour_type = -1;
  std::string idat;
  for (std::size_t at = 8; at + 12 <= bytes.size();) {
    const std::uint32_t len = be32(bytes, at);
    if (at + 12 + len > bytes.size()) throw std::runtime_error("png: truncated chunk");
    const std::string type = bytes.substr(at + 4, 4);
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(bytes, at + 8));
      img.height = static_cast<int>(be32(bytes, at + 12));
      colour_type = static_cast<unsigned char>(bytes[at + 17]);
      if (bytes[at + 16] != 8 || bytes[at + 20] != 0 ||
          (colour_type != 0 && colour_type != 2 && colour_type != 6))
        throw std::runtime_error("png: only 8-bit grey/RGB/RGBA, non-interlaced");
    } else if (type == "IDAT") {
      idat.append(bytes, at + 8, len);
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  if (colour_type < 0 || img.width <= 0 || img.height <= 0)
    throw std::runtime_error("png: no IHDR");
  const std::size_t bpp = colour_type == 6 ? 4 : colour_type == 2 ? 3 : 1;
  const std::size_t stride = bpp * img.width;
  std::vector<std::uint8_t> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) !=
          Z_OK ||
      raw_len != raw.size())
    throw std::runtime_error("png: bad image data");
  unfilter(raw, img.height, stride, bpp);
  img.rgb.resize(static_cast<std::size_t>(img.width) * img.height * 3);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const std::uint8_t* px = raw.data() + y * (stride + 1) + 1 + x * bpp;
      std::uint8_t* out = img.rgb.data() + (static_cast<std::size_t>(y) * img.width + x) * 3;
      // Alpha ignored: a screenshot of a page with a white background is opaque.
      for (int c = 0; c < 3; ++c) out[c] = bpp == 1 ? px[0] : px[c];
    }
  return img;
}

RgbImage read_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("png: cannot open " + path);
  std::stringstream s;
  s << f.rdbuf();
  return decode_png(s.str());
}

}  // namespace sanwatch::test
