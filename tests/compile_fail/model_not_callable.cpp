// EXPECT: cascade::Cascade::run: a tier's model cannot be called with this Request
// The model takes an int, the cascade is run with a std::string.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{cascade::tier("mini", [](int n) { return n; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
