#include "catch.hpp"
#include <cascade/cascade.hpp>

TEST_CASE("placeholder") { CHECK(true); }
