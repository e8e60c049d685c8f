// EXPECT: cascade::Cascade: every argument must be a cascade::Tier
// A bare model where a tier is expected.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{cascade::tier("mini", [](const std::string& q) { return q; }),
                           [](const std::string& q) { return q; }};
    (void)chain;
}
