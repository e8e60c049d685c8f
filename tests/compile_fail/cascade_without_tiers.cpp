// EXPECT: cascade::Cascade: needs at least one tier
// EXPECT-ERRORS: 1
#include <cascade/cascade.hpp>

int main() {
    cascade::Cascade<> chain{};
    (void)chain;
}
