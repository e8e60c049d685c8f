// EXPECT: cascade::Cascade: needs at least one tier
#include <cascade/cascade.hpp>

int main() {
    cascade::Cascade<> chain{};
    (void)chain;
}
