// EXPECT: cascade::Cascade: more tiers than CASCADE_MAX_TIERS
#define CASCADE_MAX_TIERS 2
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto model = [](const std::string& q) { return q; };
    cascade::Cascade chain{cascade::tier("a", model), cascade::tier("b", model), cascade::tier("c", model)};
    (void)chain;
}
