// EXPECT: cascade::Cascade::stream: the caller's sink must be callable as void\(const cascade::StreamEvent&\)
// A caller's sink that takes the text alone is refused with one message naming what is accepted.
#include <cascade/cascade.hpp>

#include <string>
#include <string_view>

int main() {
    auto stream = [](const std::string& q, cascade::TokenSink& sink) {
        sink(q);
        return q;
    };
    cascade::Cascade c{cascade::tier("mini", stream)};
    (void)c.stream(std::string("q"), [](std::string_view) {});
}
