// EXPECT: cascade::Router::run: the scorer must be callable as double\(const Request&\)
// The scorer returns a label, not a difficulty.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto model = [](const std::string& q) { return q; };
    cascade::Router router{[](const std::string&) { return std::string("hard"); }, {0.5},
                           cascade::tier("mini", model), cascade::tier("big", model)};
    auto r = router.run(std::string("question"));
    (void)r;
}
