// Lets the tests compile against Catch2 v2 (Debian's package) and v3 alike.
#ifndef CASCADE_TESTS_CATCH_HPP
#define CASCADE_TESTS_CATCH_HPP
#ifdef CASCADE_CATCH2_V2
#include <catch2/catch.hpp>
#else
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#endif
using Catch::Approx;
#endif
