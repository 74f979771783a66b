// SPDX-License-Identifier: Apache-2.0
// The configuration file through the whole validation (toml_guard, toml++,
// every key's checks), and the invariant `check-config` relies on: the
// rendered effective configuration loads back to the same configuration.
#include <string>
#include <string_view>

#include "detect/config.h"
#include "fuzz_util.h"

namespace {

// render_config() without its comments: the first line names the source and
// [[override]] headers carry the file:line they came from.
std::string canonical(const sanwatch::Config& c) {
  std::string out;
  const std::string rendered = sanwatch::render_config(c);
  std::string_view r = rendered;
  while (!r.empty()) {
    auto nl = r.find('\n');
    std::string_view line = r.substr(0, nl);
    r = nl == std::string_view::npos ? std::string_view{} : r.substr(nl + 1);
    if (line.starts_with("#")) continue;
    if (line.starts_with("[[override]]")) line = "[[override]]";
    out.append(line).push_back('\n');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = sanwatch::parse_config(text, "fuzz.toml");
  if (!c) {
    FUZZ_CHECK(!c.error().context.empty());
    return 0;
  }
  const std::string once = canonical(*c);
  auto again = sanwatch::parse_config(sanwatch::render_config(*c), "rendered.toml");
  FUZZ_CHECK(again.ok(), "rendered config does not load back: " + again.error().message() + "\n" +
                             sanwatch::render_config(*c));
  FUZZ_CHECK(canonical(*again) == once,
             "round trip changed the config:\n" + once + "---\n" + canonical(*again));
  return 0;
}
