// EXPECT: cascade::verify::self_consistency: the sampler must be callable as Sample\(const Request&\)
// The sampler takes an int, but the cascade's Request is a std::string.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

int main() {
    auto sampler = [](int) { return std::string("x"); };
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; }, cascade::verify::self_consistency(sampler, 3), 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
