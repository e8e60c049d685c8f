#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/eval/calibrate_router.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>

#include <cmath>
#include <cstddef>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// n queries with scores spread evenly over [0, 1). The strong model is always right; the weak
// one is right exactly on the queries scoring below `hard_from`, except on the queries in
// `spoiled`, where it is always wrong. So the router at threshold t <= hard_from loses nothing,
// and at t > hard_from loses (t - hard_from) of the quality.
struct RouterLog {
    cascade::OutcomeTable table;
    std::vector<double> scores;
};
RouterLog router_log(std::size_t n, double hard_from, const std::set<std::string>& spoiled = {}) {
    std::string csv = "query_id,model,quality,cost\n";
    std::vector<double> scores;
    for (std::size_t i = 0; i < n; ++i) {
        // Scores in a scrambled order, so that the split by id does not follow the score.
        const std::size_t k = (i * 7919) % n;
        const double score = static_cast<double>(k) / static_cast<double>(n);
        const std::string id = "q" + std::to_string(i);
        const bool weak_right = score < hard_from && spoiled.count(id) == 0;
        csv += id + ",weak," + (weak_right ? "1" : "0") + ",0.001\n";
        csv += id + ",strong,1,0.01\n";
        scores.push_back(score);
    }
    return {table_of(csv), scores};
}

cascade::RouterCalibrateOptions router_options(double target) {
    cascade::RouterCalibrateOptions o;
    o.weak = "weak";
    o.strong = "strong";
    o.target = target;
    return o;
}

}  // namespace

TEST_CASE("calibrate_router finds the threshold a log makes known, and no higher") {
    const RouterLog log = router_log(2000, 0.6);
    const auto r = cascade::calibrate_router(log.table, log.scores, router_options(0.95));
    // Up to 0.6 the weak model loses nothing; past 0.65 it loses more than 5%.
    CHECK(r.threshold >= 0.55);
    CHECK(r.threshold <= 0.65);
    CHECK(r.target_met);
    CHECK(r.guarantee == cascade::CalibrationGuarantee::family_wise);
    CHECK(r.guarantee_text.find("family-wise") != std::string::npos);
    CHECK(r.selection_queries == 1000);
    CHECK(r.test_queries == 1000);
    CHECK(r.tested >= 2);
    CHECK(r.tested <= 201);
    CHECK(r.loss_bound <= r.allowed_loss);
    CHECK(r.allowed_loss > 0.0);
    // The report is the replay of the chosen threshold on all labelled queries.
    const auto replay = cascade::replay_router(log.table, log.scores, {r.threshold}, {"weak", "strong"});
    CHECK(r.train.quality == Approx(replay.quality));
    CHECK(r.strong_share == Approx(replay.answered[1]));
    CHECK(r.saving == Approx(1.0 - replay.cost / 0.01));
    CHECK(r.saving > 0.45);
    CHECK(replay.quality >= 0.95);
}

TEST_CASE("calibrate_router keeps the strong model alone at target 1 when the weak model never does better") {
    const RouterLog log = router_log(2000, 0.6);
    const auto r = cascade::calibrate_router(log.table, log.scores, router_options(1.0));
    CHECK(r.threshold == 0.0);
    CHECK(r.strong_share == 1.0);
    CHECK(r.saving == Approx(0.0));
    CHECK(r.target_met);
    CHECK(r.loss_bound == 0.0);
    CHECK(r.tested >= 2);  // a threshold above 0 was tried and failed
}

TEST_CASE("calibrate_router falls back to the strong model when the test part disagrees with the choosing part") {
    cascade::RouterCalibrateOptions o = router_options(0.95);
    const RouterLog clean = router_log(2000, 0.6);
    o.selection_fraction = 0.5;
    const auto parts = cascade::split_by_query(clean.table, *o.selection_fraction, o.split_seed);
    // The weak model is right everywhere on the choosing part, which proposes thresholds up to
    // 1, and wrong on every query of the test part: the walk must stop while the test part's
    // queries below the threshold are at most about 5%.
    std::set<std::string> spoiled(parts.second.queries().begin(), parts.second.queries().end());
    const RouterLog log = router_log(2000, 1.0, spoiled);
    const auto r = cascade::calibrate_router(log.table, log.scores, o);
    CHECK(r.threshold < 0.05);
    CHECK(r.strong_share > 0.95);
    CHECK(r.loss_bound <= r.allowed_loss);
    // Without the spoiling, the same split certifies a high threshold.
    const auto unspoiled = cascade::calibrate_router(router_log(2000, 1.0).table, log.scores, o);
    CHECK(unspoiled.threshold > 0.9);
}

TEST_CASE("calibrate_router stops at the first failure even when a higher threshold would pass") {
    cascade::RouterCalibrateOptions o = router_options(0.95);
    const std::size_t n = 2000;
    const RouterLog clean = router_log(n, 1.0);
    o.selection_fraction = 0.5;
    const auto parts = cascade::split_by_query(clean.table, *o.selection_fraction, o.split_seed);
    const std::set<std::string> tested(parts.second.queries().begin(), parts.second.queries().end());
    // Choosing part: both models always right. Test part: the weak model is wrong on scores in
    // [0.1, 0.2) (a 10% loss by threshold 0.2) and right where the strong one is wrong on [0.2,
    // 0.4) (a 20% gain by 0.4). Past 0.4 the router beats the strong model, but the walk up
    // from 0 must fail near 0.15 and stop there.
    std::string csv = "query_id,model,quality,cost\n";
    for (std::size_t i = 0; i < n; ++i) {
        const std::string id = "q" + std::to_string(i);
        const double score = clean.scores[i];
        const bool test_part = tested.count(id) != 0;
        const bool weak_right = !(test_part && score >= 0.1 && score < 0.2);
        const bool strong_right = !(test_part && score >= 0.2 && score < 0.4);
        csv += id + ",weak," + (weak_right ? "1" : "0") + ",0.001\n";
        csv += id + ",strong," + (strong_right ? "1" : "0") + ",0.01\n";
    }
    const auto r = cascade::calibrate_router(table_of(csv), clean.scores, o);
    CHECK(r.threshold >= 0.1);
    CHECK(r.threshold < 0.2);
}

TEST_CASE("calibrate_router gives the same threshold whatever the order of the log") {
    // Easy queries for the weak model first, then hard ones: the test must not take them in
    // the log's order (the wealth would peak on the easy ones). Reversing the log changes nothing.
    const std::size_t n = 1200;
    cascade_test::Lcg random(23);
    std::vector<std::string> blocks;
    std::vector<double> scores;
    for (std::size_t i = 0; i < n; ++i) {
        const bool easy = i < n / 2;
        const int weak_right = random.unit() < (easy ? 0.99 : 0.6) ? 1 : 0;
        const std::string id = "q" + std::to_string(i);
        blocks.push_back(id + ",weak," + std::to_string(weak_right) + ",0.125\n" + id + ",strong,1,1\n");
        scores.push_back(std::floor(random.unit() * 64.0) / 64.0);  // says nothing of difficulty
    }
    auto run = [&](bool reversed) {
        std::string csv = "query_id,model,quality,cost\n";
        std::vector<double> s;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t k = reversed ? n - 1 - i : i;
            csv += blocks[k];
            s.push_back(scores[k]);
        }
        cascade::RouterCalibrateOptions o = router_options(0.9);
        return cascade::calibrate_router(table_of(csv), s, o);
    };
    const auto a = run(false);
    const auto b = run(true);
    CHECK(a.threshold == b.threshold);
    CHECK(a.tested == b.tested);
    CHECK(a.loss_bound == b.loss_bound);
}

TEST_CASE("calibrate_router refuses bad options and inputs, naming the problem") {
    const RouterLog log = router_log(100, 0.6);
    auto refused = [&](cascade::RouterCalibrateOptions o, const std::vector<double>& scores, const std::string& message) {
        CHECK_THROWS_WITH(cascade::calibrate_router(log.table, scores, o), Catch::Matchers::ContainsSubstring(message));
    };
    cascade::RouterCalibrateOptions o = router_options(0.95);
    refused(o, std::vector<double>(99, 0.5), "99 scores for 100 queries");
    o.target = 0.0;
    refused(o, log.scores, "target");
    o.target = 1.5;
    refused(o, log.scores, "target");
    o = router_options(0.95);
    o.delta = 1.0;
    refused(o, log.scores, "delta");
    o = router_options(0.95);
    o.selection_fraction = 0.0;
    refused(o, log.scores, "selection_fraction");
    o.selection_fraction = 0.001;
    refused(o, log.scores, "cannot be split");
    o = router_options(0.95);
    o.strong = "weak";
    refused(o, log.scores, "both \"weak\"");
    o = router_options(0.95);
    o.weak.clear();
    refused(o, log.scores, "name both");
    o = router_options(0.95);
    o.max_tested = 0;
    refused(o, log.scores, "max_tested");
    o = router_options(0.95);
    o.strong = "huge";
    CHECK_THROWS_WITH(cascade::calibrate_router(log.table, log.scores, o), Catch::Matchers::ContainsSubstring("huge"));
}

TEST_CASE("which thresholds calibrate_router tests depends on the choosing part alone") {
    // Two logs alike on the choosing part. On the testing part the weak model is always right
    // and the strong one often wrong, so every threshold walked passes by a wide margin and
    // `tested` counts the whole walk; the logs differ there only in how often the strong model is
    // right, which moves the testing part's allowed loss. Fixed-sequence testing is valid only if
    // the walk does not move too.
    const std::size_t n = 2000;
    const RouterLog base = router_log(n, 0.6);
    const auto parts = cascade::split_by_query(base.table, 0.5, 1);
    const std::set<std::string> testing(parts.second.queries().begin(), parts.second.queries().end());
    auto log_with = [&](bool strong_wrong_more) {
        std::string csv = "query_id,model,quality,cost\n";
        for (std::size_t i = 0; i < n; ++i) {
            const std::string id = "q" + std::to_string(i);
            const char* weak = base.scores[i] < 0.6 ? "1" : "0";
            const char* strong = "1";
            if (testing.count(id) != 0) {
                strong = i % 5 < (strong_wrong_more ? 2U : 1U) ? "0" : "1";
                weak = "1";
            }
            csv += id + ",weak," + weak + ",0.001\n";
            csv += id + ",strong," + strong + ",0.01\n";
        }
        return table_of(csv);
    };
    cascade::RouterCalibrateOptions o = router_options(0.95);
    o.max_tested = 100000;  // no thinning: `tested` is the whole walk
    const auto a = cascade::calibrate_router(log_with(false), base.scores, o);
    const auto b = cascade::calibrate_router(log_with(true), base.scores, o);
    CHECK(a.allowed_loss > b.allowed_loss);
    CHECK(a.tested > 1);
    CHECK(a.tested == b.tested);
}
