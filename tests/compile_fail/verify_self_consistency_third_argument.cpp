// EXPECT: cascade::verify::self_consistency: the third argument must be a matcher
// A bare equivalence function must be wrapped: cascade::verify::equivalent_if(fn).
#include <cascade/verify.hpp>

#include <string>
#include <string_view>

int main() {
    auto sampler = [](const std::string& q) { return q; };
    auto same = [](std::string_view a, std::string_view b) { return a == b; };
    auto sc = cascade::verify::self_consistency(sampler, 3, same);
    (void)sc;
}
