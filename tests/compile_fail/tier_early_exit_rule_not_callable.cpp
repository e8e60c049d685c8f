// EXPECT: cascade::Tier::with_early_exit: the rule must be callable as std::optional<std::string>\(const cascade::StreamState&\)
// A rule that takes the stream's state by non-const reference cannot be called as the tier calls
// it: one message, naming the shape accepted, and no error from inside the library.
#include <cascade/cascade.hpp>

#include <optional>
#include <string>

int main() {
    auto stream = [](const std::string& q, cascade::TokenSink& sink) {
        sink(q);
        return q;
    };
    auto t = cascade::tier("mini", stream).with_early_exit(
        [](cascade::StreamState& s) -> std::optional<std::string> {
            if (s.tokens() > 3) return std::string("long");
            return std::nullopt;
        });
    (void)t;
}
