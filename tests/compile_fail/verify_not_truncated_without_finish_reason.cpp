// EXPECT: cascade::verify::not_truncated: cascade::response_traits<Response> gives no finish reason
// The Response has text but no finish reason.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

struct Answer {
    std::string text;
};

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return Answer{q}; }, cascade::verify::not_truncated(), 0.8),
        cascade::tier("big", [](const std::string& q) { return Answer{q}; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
