// What a user's program does with cascade: two tiers of lambdas, the cheap one trusted only when
// it is confident. Exits non-zero when the cascade gives a wrong answer.
#include <cascade/cascade.hpp>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

struct Answer {
    std::string text;
    double confidence;
};

bool check(bool ok, const char* what) {
    if (!ok) std::fprintf(stderr, "consumer: wrong: %s\n", what);
    return ok;
}

}  // namespace

int main() {
    int big_calls = 0;
    cascade::Cascade chain{
        cascade::tier("mini",
                      [](const std::string& q) { return Answer{"mini:" + q, q.size() < 8 ? 0.9 : 0.2}; },
                      [](const Answer& a) { return a.confidence; }, 0.8, cascade::price_per_call(0.001)),
        cascade::tier("big",
                      [&big_calls](const std::string& q) {
                          ++big_calls;
                          return Answer{"big:" + q, 1.0};
                      },
                      cascade::price_per_call(0.01))};

    const auto easy = chain.run(std::string("2+2?"));
    const auto hard = chain.run(std::string("prove the four colour theorem"));

    bool ok = check(easy.value().text == "mini:2+2?", "the easy query's answer");
    ok = check(easy.tier() == "mini", "the tier that answered the easy query") && ok;
    ok = check(hard.value().text == "big:prove the four colour theorem", "the hard query's answer") && ok;
    ok = check(hard.tier_index() == std::size_t{1}, "the tier that answered the hard query") && ok;
    ok = check(std::fabs(hard.cost() - 0.011) < 1e-12, "the hard query's cost (both tiers)") && ok;
    ok = check(big_calls == 1, "the big model's calls") && ok;
#ifdef CONSUMER_EXPECTED_VERSION
    ok = check(CASCADE_VERSION_MAJOR * 10000 + CASCADE_VERSION_MINOR * 100 + CASCADE_VERSION_PATCH ==
                   CONSUMER_EXPECTED_VERSION,
               "the version in <cascade/version.hpp>") && ok;
#endif
    if (ok) std::printf("consumer: %s\n", hard.explain().c_str());
    return ok ? 0 : 1;
}
