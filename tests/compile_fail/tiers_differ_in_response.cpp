// EXPECT: cascade::Cascade::run: every tier's model must return the same Response type
// The first tier answers an int, the second a std::string.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{cascade::tier("mini", [](const std::string& q) { return static_cast<int>(q.size()); }),
                           cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
