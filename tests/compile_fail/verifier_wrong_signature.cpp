// EXPECT: cascade::tier: a verifier has the wrong signature
// The verifier takes three arguments.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; },
                      [](const std::string&, const std::string&, int) { return 1.0; }, 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
