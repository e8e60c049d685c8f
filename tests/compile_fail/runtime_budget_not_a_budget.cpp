// EXPECT: cascade::with_budget: the budget must be a cascade::Budget, or have its members
// A number of dollars is not a budget: with_budget needs one shared by the calls.
#include <cascade/runtime/budget.hpp>

int main() {
    double dollars = 25.0;
    auto model = cascade::with_budget([](int x) { return x; }, dollars, 0.01);
    (void)model;
}
