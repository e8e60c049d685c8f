// EXPECT-COMPILES
// The control: every accepted shape, so that the harness is seen to pass a correct program built
// with the same compiler, standard and warnings as the cases that must fail.
#include <cascade/cascade.hpp>

#include <string>

struct Answer {
    std::string text;
    double confidence;
};

int main() {
    auto mini = cascade::tier("mini", [](const std::string& q) { return Answer{q, 0.4}; },
                              [](const Answer& a) { return a.confidence; }, 0.8,
                              cascade::cost_from([](const std::string&, const Answer& a) {
                                  return static_cast<double>(a.text.size()) * 1e-6;
                              }));
    auto judged = cascade::tier("judged", [](std::string q) { return Answer{q, 0.9}; },
                                [](const std::string&, const Answer& a) {
                                    return cascade::Verdict{a.confidence, 1e-4, "judged"};
                                },
                                cascade::price_per_call(1e-3));
    auto big = cascade::tier("big", [](const std::string& q) mutable { return Answer{q, 1.0}; },
                             cascade::price_per_call(5e-3));
    cascade::Cascade chain{std::move(mini), std::move(judged), std::move(big)};
    cascade::Router router{[](const std::string& q) { return q.size() > 10 ? 0.9 : 0.1; }, {0.5},
                           std::move(chain),
                           cascade::tier("direct", [](const std::string& q) { return Answer{q, 1.0}; },
                                         [](const Answer&) { return true; })};
    const auto r = router.run(std::string("hello"));
    return r.has_value() ? 0 : 1;
}
