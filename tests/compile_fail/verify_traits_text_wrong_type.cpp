// EXPECT: cascade::response_traits<Response>::text must return something convertible to std::string_view
// A specialisation whose text() returns a number.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

struct Answer {
    int code;
};

template <>
struct cascade::response_traits<Answer> {
    static int text(const Answer& a) { return a.code; }
};

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return Answer{static_cast<int>(q.size())}; },
                      cascade::verify::non_empty(), 0.8),
        cascade::tier("big", [](const std::string&) { return Answer{0}; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
