// EXPECT: cascade::cost_from: a cost function has the wrong signature
// The cost function takes the answer's length instead of the answer.
#include <cascade/cascade.hpp>

#include <string>
#include <vector>

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; },
                      cascade::cost_from([](const std::vector<int>&) { return 1e-6; }))};
    auto r = chain.run(std::string("question"));
    (void)r;
}
