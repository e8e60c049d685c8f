// EXPECT-COMPILES
// The control for the verify cases: every ready-made verifier in one cascade, with the same
// compiler, standard and warnings.
#include <cascade/cascade.hpp>
#include <cascade/verify.hpp>

#include <string>
#include <string_view>

namespace v = cascade::verify;

int main() {
    auto mini = [](const std::string& q) { return cascade::ChatReply{q, {-0.1}, "stop"}; };
    auto sampler = [](const std::string& q) { return q; };
    auto grader = [](const std::string&, const cascade::ChatReply&) { return std::string("yes"); };
    const v::CalibrationMap cal = v::CalibrationMap::from_text("cascade-calibration 1\nplatt 4 -2\n");
    auto check = v::all_of(v::non_empty(), v::no_refusal(), v::not_truncated(), v::matches("."),
                           v::text_satisfies([](std::string_view t) { return t.size() < 100; }), v::valid_json(),
                           v::any_of(v::mean_token_prob(), v::min_token_prob(), v::token_prob_quantile(0.1)),
                           v::weighted({1, 1}, v::self_consistency(sampler, 2, v::exact_match()),
                                       v::judge(grader, v::yes_no(), cascade::price_per_call(1e-4))),
                           v::negate(v::matches("^$")), v::calibrated(v::mean_token_prob(), cal));
    cascade::Cascade chain{cascade::tier("mini", mini, std::move(check), 0.8),
                           cascade::tier("big", [](const std::string& q) { return cascade::ChatReply{q, {}, ""}; })};
    const auto r = chain.run(std::string("[1]"));
    return r.has_value() ? 0 : 1;
}
