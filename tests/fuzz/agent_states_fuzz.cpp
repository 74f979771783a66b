// SPDX-License-Identifier: Apache-2.0
// Whatever answers on the agent's port when `sanwatch paths` asks it for
// states: any text, parsed without a crash.
#include <string_view>

#include "cli/agent_states.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)sanwatch::parse_agent_states({reinterpret_cast<const char*>(data), size});
  return 0;
}
