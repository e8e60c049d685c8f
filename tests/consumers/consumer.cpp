// What a user's program does with cascade: tiers of lambdas, the cheap one trusted only when it is
// confident; then the same models, verifiers and helpers in every shape a user may hand over (a
// plain function, a pointer to one, a functor and a lambda), inside every runtime wrapper, with
// every layer included. The consumer projects build it with the warnings a careful user turns on,
// as errors, so a warning that cascade's headers raise in user code fails the build. Exits
// non-zero when an answer is wrong.
#include <cascade/all.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Answer {
    std::string text;
    double confidence;
};

bool check(bool ok, const char* what) {
    if (!ok) std::fprintf(stderr, "consumer: wrong: %s\n", what);
    return ok;
}

// Short questions are easy: the cheap tiers are confident about them.
Answer echo(const std::string& q) { return Answer{"echo:" + q, q.size() < 8 ? 0.9 : 0.2}; }
double confidence_of(const Answer& a) { return a.confidence; }
double cost_of(const Answer& a) { return static_cast<double>(a.text.size()) * 1e-6; }
std::string key_of(const std::string& q) { return q; }
double difficulty_of(const std::string& q) { return q.size() < 8 ? 0.1 : 0.9; }
bool retry_any(const std::exception&) { return true; }

struct EchoModel {
    int calls = 0;
    Answer operator()(const std::string& q) {
        ++calls;
        return echo(q);
    }
};
struct ConfidenceOf {
    double operator()(const Answer& a) const { return confidence_of(a); }
};

bool two_lambda_tiers() {
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
    if (ok) std::printf("consumer: %s\n", hard.explain().c_str());
    return ok;
}

// Every runtime wrapper and tier factory around `model`, verified by `verifier`; both are passed
// on as given, so a plain function reaches cascade as a function and not as a pointer.
template <class Model, class Verifier>
bool every_wrapper_around(Model&& model, Verifier&& verifier, const char* shape) {
    cascade::Budget budget{1.0};
    cascade::LruCache<std::string, Answer> answers{16};
    cascade::Cascade chain{
        cascade::tier("retry",
                      cascade::with_retry(model, cascade::RetryPolicy{2, std::chrono::nanoseconds(0),
                                                                      std::chrono::nanoseconds(0), 1.0, 0.0},
                                          retry_any),
                      verifier, 0.8, cascade::cost_from(cost_of)),
        cascade::tier("breaker", cascade::with_breaker(model, cascade::BreakerPolicy{}), verifier,
                      cascade::price_per_call(0.001)),
        cascade::tier("budget", cascade::with_budget(model, budget, 0.01, cost_of), verifier, 0.8),
        cascade::tier("cache", cascade::with_cache(model, answers, key_of), verifier, 0.8),
        cascade::tier("limit", cascade::with_concurrency_limit(model, 2), cascade::verify::all_of(verifier), 0.8),
        cascade::tier("last", model)};
    cascade::Router router{difficulty_of, {0.5}, cascade::tier("easy", model, verifier, 0.5),
                           cascade::tier("hard", model, cascade::price_per_call(0.01))};

    const auto easy = chain.run(std::string("2+2?"));
    const auto hard = chain.run(std::string("prove the four colour theorem"));
    const auto routed = router.run(std::string("prove the four colour theorem"));
    const std::vector<std::string> questions{"a", "b"};
    const auto batch = cascade::run_batch(chain, questions);

    bool ok = check(easy.value().text == "echo:2+2?" && easy.tier_index() == std::size_t{0}, shape);
    ok = check(hard.has_value() && hard.tier_index() == std::size_t{5}, shape) && ok;
    ok = check(budget.spent() > 0.0 && answers.size() == 1, shape) && ok;
    ok = check(routed.has_value() && routed.value().text == "echo:prove the four colour theorem", shape) && ok;
    ok = check(batch.size() == 2 && batch[1].result().value().text == "echo:b", shape) && ok;
    return ok;
}

}  // namespace

int main() {
    bool ok = two_lambda_tiers();
    ok = every_wrapper_around(echo, confidence_of, "a plain function") && ok;
    ok = every_wrapper_around(&echo, &confidence_of, "a function pointer") && ok;
    ok = every_wrapper_around(EchoModel{}, ConfidenceOf{}, "a functor") && ok;
    ok = every_wrapper_around([](const std::string& q) { return echo(q); },
                              [](const Answer& a) { return a.confidence; }, "a lambda") &&
         ok;
    cascade::Router scored{cascade::score::HeuristicScorer{}, {0.5}, cascade::tier("easy", echo),
                           cascade::tier("hard", &echo)};
    ok = check(scored.run(std::string("2+2?")).has_value(), "a route by the heuristic scorer") && ok;
#ifdef CONSUMER_EXPECTED_VERSION
    ok = check(CASCADE_VERSION_MAJOR * 10000 + CASCADE_VERSION_MINOR * 100 + CASCADE_VERSION_PATCH ==
                   CONSUMER_EXPECTED_VERSION,
               "the version in <cascade/version.hpp>") && ok;
#endif
    return ok ? 0 : 1;
}
