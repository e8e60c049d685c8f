// EXPECT: cascade::verify::judge: the judge's reply has no text
// The judge returns a number; a judge returns its reply as text, for the parser to read.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

int main() {
    auto grader = [](const std::string&, const std::string&) { return 0.7; };
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; },
                      cascade::verify::judge(grader, cascade::verify::yes_no()), 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
