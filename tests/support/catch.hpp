// Lets the tests compile against Catch2 v2 (Debian's package) and v3 alike. Tests use the v3
// spellings; for v2 the few that differ are provided here.
#ifndef CASCADE_TESTS_CATCH_HPP
#define CASCADE_TESTS_CATCH_HPP
#ifdef CASCADE_CATCH2_V2
#include <catch2/catch.hpp>
#include <string>
namespace Catch::Matchers {
inline auto ContainsSubstring(const std::string& text, CaseSensitive::Choice cs = CaseSensitive::Yes) {
    return Contains(text, cs);
}
}  // namespace Catch::Matchers
#else
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;  // v2 declares it globally
#endif

// `Approx` may also name Catch2 v2's vector matcher in a test's scope: approx(v) names the class.
#ifdef CASCADE_CATCH2_V2
inline Catch::Detail::Approx approx(double v) { return Catch::Detail::Approx(v); }
#else
inline Catch::Approx approx(double v) { return Catch::Approx(v); }
#endif
#endif
