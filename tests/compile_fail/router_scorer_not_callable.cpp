// EXPECT: cascade::Router::run: the scorer must be callable as double\(const Request&\)
// The scorer takes an int, the router is run with a std::string.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto model = [](const std::string& q) { return q; };
    cascade::Router router{[](int n) { return n > 3 ? 0.9 : 0.1; }, {0.5}, cascade::tier("mini", model),
                           cascade::tier("big", model)};
    auto r = router.run(std::string("question"));
    (void)r;
}
