// EXPECT: cascade::Router::run: every route must give the same Response type
// Route 0 answers a std::string, route 1 an int.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Router router{[](const std::string& q) { return q.size() > 10 ? 0.9 : 0.1; }, {0.5},
                           cascade::tier("mini", [](const std::string& q) { return q; }),
                           cascade::tier("big", [](const std::string& q) { return static_cast<int>(q.size()); })};
    auto r = router.run(std::string("question"));
    (void)r;
}
