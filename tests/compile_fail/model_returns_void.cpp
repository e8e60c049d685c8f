// EXPECT: cascade::Cascade::run: a tier's model returns void
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Cascade chain{cascade::tier("mini", [](const std::string&) {})};
    auto r = chain.run(std::string("question"));
    (void)r;
}
