// SPDX-License-Identifier: MIT
// What every fuzz target shares: the libFuzzer entry point it defines, and a check that stops
// the run (as a crash, which libFuzzer reports with the input) when a parser breaks a promise
// without crashing by itself.
#ifndef CASCADE_FUZZ_TARGET_HPP
#define CASCADE_FUZZ_TARGET_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace cascade_fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::string_view{} : std::string_view(reinterpret_cast<const char*>(data), size);
}

[[noreturn]] inline void broken(const char* file, int line, const char* promise, const std::string& detail) {
    std::fprintf(stderr, "%s:%d: broken promise: %s\n%s\n", file, line, promise, detail.c_str());
    std::abort();
}

}  // namespace cascade_fuzz

// Aborts, naming the promise, when `cond` is false; `detail` is evaluated only then.
#define CASCADE_FUZZ_EXPECT(cond, detail)                                         \
    do {                                                                          \
        if (!(cond)) ::cascade_fuzz::broken(__FILE__, __LINE__, #cond, (detail)); \
    } while (false)

#endif  // CASCADE_FUZZ_TARGET_HPP
