// EXPECT: cascade::verify::mean_token_prob / min_token_prob / token_prob_quantile: cascade::response_traits<Response> gives no token log-probabilities
// A std::string answer has no token log-probabilities to read.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>

int main() {
    cascade::Cascade chain{
        cascade::tier("mini", [](const std::string& q) { return q; }, cascade::verify::mean_token_prob(), 0.8),
        cascade::tier("big", [](const std::string& q) { return q; })};
    auto r = chain.run(std::string("question"));
    (void)r;
}
