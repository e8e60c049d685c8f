// EXPECT: cascade::tier: a verifier has the wrong signature
// The verifier returns a string, not a confidence, a bool or a cascade::Verdict.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; },
                      [](const std::string& answer) { return answer; }, 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
