// SPDX-License-Identifier: Apache-2.0
// The /metrics web configuration (metrics.web_config, an exporter-toolkit
// web.yml) through the nesting guard, yaml-cpp and every key's checks.
// Invariants: a refusal names the file; a loaded file has absolute paths
// (relative ones resolved against its directory), bcrypt-shaped hashes,
// users without ':', header values without control characters, and a
// GnuTLS priority string that allows at least one protocol version.
#include <string>
#include <string_view>

#include "exporters/web_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto w = sanwatch::parse_web_config(text, "/etc/sanwatch/web.yml");
  if (!w) {
    FUZZ_CHECK(w.error().context.starts_with("/etc/sanwatch/web.yml"), w.error().context);
    return 0;
  }
  if (w->tls) {
    const auto& t = *w->tls;
    for (const std::string* p : {&t.cert_file, &t.key_file})
      FUZZ_CHECK(!p->empty() && (*p)[0] == '/', *p);
    FUZZ_CHECK(t.client_ca_file.empty() || t.client_ca_file[0] == '/', t.client_ca_file);
    FUZZ_CHECK(!t.max_version || *t.max_version >= t.min_version);
    const std::string prio = sanwatch::gnutls_priorities(t);
    FUZZ_CHECK(prio.find(":+VERS-TLS1.") != std::string::npos, prio);
  }
  for (const auto& [user, hash] : w->basic_auth_users) {
    FUZZ_CHECK(!user.empty() && user.find(':') == std::string::npos, user);
    FUZZ_CHECK(hash.size() == 60 && hash.starts_with("$2"), hash);
  }
  for (const auto& [name, value] : w->headers) FUZZ_CHECK(fuzz::printable_ascii(name), name);
  for (const auto& warning : w->warnings)
    FUZZ_CHECK(warning.starts_with("/etc/sanwatch/web.yml:"), warning);
  return 0;
}
