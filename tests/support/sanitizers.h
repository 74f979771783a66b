// SPDX-License-Identifier: Apache-2.0
// Whether the tests (and so the agent they run, built with the same flags)
// are built with ASan or TSan (cmake -DSANWATCH_SANITIZE=...), for the few
// checks a sanitizer runtime makes meaningless; say why at each use.
#pragma once

namespace sanwatch::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kAsanOrTsan = true;
#elif defined(__has_feature)
inline constexpr bool kAsanOrTsan =
    __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
inline constexpr bool kAsanOrTsan = false;
#endif

}  // namespace sanwatch::test
