// EXPECT: cascade::verify::no_refusal: cascade::response_traits<Response> gives no text
// The Response has neither a `text` member nor a cascade::response_traits specialisation.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

struct Answer {
    std::string body;
};

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return Answer{q}; }, cascade::verify::no_refusal(), 0.8),
        cascade::tier("big", [](const std::string& q) { return Answer{q}; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
