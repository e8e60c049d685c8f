// EXPECT: cascade::Router: needs at least one route
#include <cascade/cascade.hpp>

#include <string>

int main() {
    cascade::Router router{[](const std::string&) { return 0.5; }, {}};
    (void)router;
}
