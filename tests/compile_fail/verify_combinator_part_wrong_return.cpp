// EXPECT: cascade::verify combinator \(all_of, any_of, weighted, negate, calibrated\): a part cannot verify this Response
// One part returns a string, not a confidence, a bool or a cascade::Verdict.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

int main() {
    auto bad = [](const std::string& answer) { return answer; };
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; },
                      cascade::verify::all_of(cascade::verify::non_empty(), bad), 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
