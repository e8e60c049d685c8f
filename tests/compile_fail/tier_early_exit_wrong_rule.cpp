// EXPECT: cascade::Tier::with_early_exit: the rule must be callable as std::optional<std::string>\(const cascade::StreamState&\)
// An early-exit rule that answers a bool (stop or not) instead of the reason to stop is refused
// with one message naming the shape that is accepted.
#include <cascade/cascade.hpp>

#include <string>

int main() {
    auto stream = [](const std::string& q, cascade::TokenSink& sink) {
        sink(q);
        return q;
    };
    auto t = cascade::tier("mini", stream).with_early_exit([](const cascade::StreamState& s) { return s.tokens() > 3; });
    (void)t;
}
