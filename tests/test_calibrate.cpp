#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/curve.hpp>
#include <cascade/detail/number.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Queries of varying difficulty (see skilled_outcomes; `big` is the reference), each model's
// confidence informative but noisy, in steps of 0.02, and missing now and then. Query names
// carry the seed, so that tables of different seeds never share a query.
std::string synthetic(std::size_t queries, std::uint64_t seed) {
    return cascade_test::skilled_outcomes(
        queries, cascade_test::Lcg(seed * 0x9E3779B97F4A7C15ull + 1), "query_id,model,quality,cost,confidence",
        "q" + std::to_string(seed) + "-", [](cascade_test::Lcg& random, int right, double p) {
            const double noise = random.unit();
            const double conf = std::round((0.45 * right + 0.25 * p + 0.3 * noise) * 50.0) / 50.0;
            return random.unit() < 0.03 ? std::string(",") : "," + cascade::detail::format_number(conf);
        });
}

// The cheapest (chain, thresholds) meeting the target on `t`, by replaying every setting.
struct Brute {
    double cost = std::numeric_limits<double>::infinity();
    double quality = 0;
};
Brute brute_force(const cascade::OutcomeTable& t, double target, const std::string& ref) {
    const double need = target * t.mean_quality(t.model_index(ref));
    Brute best;
    const std::vector<std::vector<std::string>> chains = {
        {"small"}, {"medium"}, {"big"}, {"small", "medium"}, {"small", "big"}, {"medium", "big"}};
    for (const auto& chain : chains) {
        for (const auto& p : cascade::cascade_curve(t, chain, {1000000})) {
            const auto r = cascade::replay_cascade(t, chain, p.thresholds);
            if (r.quality >= need - 1e-12 && r.cost < best.cost) best = {r.cost, r.quality};
        }
    }
    // Three tiers: every pair of distinct confidences.
    const auto a = cascade::cascade_curve(t, {"small", "big"}, {1000000});
    const auto b = cascade::cascade_curve(t, {"medium", "big"}, {1000000});
    for (const auto& x : a) {
        for (const auto& y : b) {
            const auto r = cascade::replay_cascade(t, {"small", "medium", "big"}, {x.thresholds[0], y.thresholds[0]});
            if (r.quality >= need - 1e-12 && r.cost < best.cost) best = {r.cost, r.quality};
        }
    }
    return best;
}

cascade::CalibrateOptions options(double target, cascade::CalibrationMode mode) {
    cascade::CalibrateOptions o;
    o.reference = "big";
    o.target = target;
    o.mode = mode;
    return o;
}

}  // namespace

TEST_CASE("naive calibration finds the cheapest setting a brute-force replay finds") {
    const auto t = table_of(synthetic(300, 1));
    for (const double target : {0.8, 0.9, 0.95, 1.0}) {
        INFO("target " << target);
        const auto c = cascade::calibrate(t, options(target, cascade::CalibrationMode::naive));
        const Brute b = brute_force(t, target, "big");
        CHECK(c.target_met);
        CHECK(c.train.cost == approx(b.cost).epsilon(1e-12));
        CHECK(c.train.quality >= target * c.reference_quality - 1e-12);
        // The reported figures are a replay of the chosen setting.
        const auto r = cascade::replay_cascade(t, c.chain, c.thresholds);
        CHECK(r.cost == c.train.cost);
        CHECK(r.quality == c.train.quality);
        CHECK(c.saving == approx(1.0 - c.train.cost / c.reference_cost));
        CHECK(c.chains == 7);
    }
}

TEST_CASE("per-setting calibration passes its bound and costs at least the naive choice") {
    const auto t = table_of(synthetic(1500, 2));
    const auto naive = cascade::calibrate(t, options(0.95, cascade::CalibrationMode::naive));
    const auto guarded = cascade::calibrate(t, options(0.95, cascade::CalibrationMode::per_setting));
    CHECK(guarded.guarantee == cascade::CalibrationGuarantee::per_setting);
    CHECK(guarded.target_met);
    CHECK(guarded.loss_bound <= guarded.allowed_loss);
    CHECK(guarded.allowed_loss > 0.0);
    CHECK(guarded.train.cost >= naive.train.cost);
    CHECK(guarded.train.quality >= naive.train.quality - 1e-12);
    // It does save something on this data, and keeps the reference's quality more closely.
    CHECK(guarded.saving > 0.2);
    CHECK(guarded.train.quality >= 0.95 * guarded.reference_quality);
}

TEST_CASE("family-wise calibration holds the target on new samples far more often than naive") {
    int naive_misses = 0;
    int guarded_misses = 0;
    const int trials = 12;
    for (int i = 0; i < trials; ++i) {
        const auto train = table_of(synthetic(800, 100 + static_cast<std::uint64_t>(i)));
        const auto test = table_of(synthetic(4000, 500 + static_cast<std::uint64_t>(i)));
        const double ref = test.mean_quality(test.model_index("big"));
        for (const auto mode : {cascade::CalibrationMode::naive, cascade::CalibrationMode::family_wise}) {
            const auto c = cascade::calibrate(train, options(0.95, mode));
            const auto r = cascade::replay_cascade(test, c.chain, c.thresholds);
            const bool miss = r.quality < 0.95 * ref;
            (mode == cascade::CalibrationMode::naive ? naive_misses : guarded_misses) += miss ? 1 : 0;
        }
    }
    // delta = 0.1: at most a few misses in 12; naive misses about half the time.
    CHECK(guarded_misses <= 2);
    CHECK(naive_misses >= 3);
    CHECK(guarded_misses < naive_misses);
}

TEST_CASE("a target of the reference's full quality falls back to the reference when nothing else is safe") {
    // The reference is always right; a cheaper model can only lose quality.
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (int q = 0; q < 200; ++q) {
        const std::string id = "q" + std::to_string(q);
        csv += id + ",small," + (q % 5 == 0 ? "0" : "1") + ",0.001," + (q % 5 == 0 ? "0.2" : "0.9") + "\n";
        csv += id + ",big,1,0.02,\n";
    }
    const auto t = table_of(csv);
    // Naive: the perfect confidence lets small answer 80% at no loss.
    const auto naive = cascade::calibrate(t, options(1.0, cascade::CalibrationMode::naive));
    CHECK(naive.chain == std::vector<std::string>{"small", "big"});
    for (const auto mode : {cascade::CalibrationMode::per_setting, cascade::CalibrationMode::family_wise}) {
        for (const auto bound : {cascade::RiskBound::betting, cascade::RiskBound::bernstein, cascade::RiskBound::kl}) {
            auto o = options(1.0, mode);
            o.bound = bound;
            const auto c = cascade::calibrate(t, o);
            CHECK(c.target_met);
            CHECK(c.chain == std::vector<std::string>{"big"});
            CHECK(c.saving == 0.0);
            CHECK(c.loss_bound == 0.0);
        }
    }
}

TEST_CASE("family-wise calibration reports its guarantee, split, bound and test") {
    const auto t = table_of(synthetic(1500, 2));
    for (const auto bound : {cascade::RiskBound::betting, cascade::RiskBound::bernstein, cascade::RiskBound::kl}) {
        INFO(cascade::risk_bound_name(bound));
        auto o = options(0.95, cascade::CalibrationMode::family_wise);
        o.bound = bound;
        o.delta = 0.05;
        const auto c = cascade::calibrate(t, o);
        CHECK(c.target_met);
        CHECK(c.guarantee == cascade::CalibrationGuarantee::family_wise);
        CHECK(c.guarantee_text.find("family-wise") == 0);
        CHECK(c.guarantee_text.find("0.95") != std::string::npos);
        CHECK(c.delta == 0.05);
        CHECK(c.bound == bound);
        CHECK(c.selection_queries == 750);
        CHECK(c.test_queries == 750);
        CHECK(c.tested >= 1);
        CHECK(c.tested <= o.max_tested);
        CHECK(c.loss_bound <= c.allowed_loss);
        CHECK(c.allowed_loss > 0.0);
    }
    // The betting bound certifies a cheaper setting than KL on this data.
    auto betting = options(0.95, cascade::CalibrationMode::family_wise);
    auto kl = betting;
    kl.bound = cascade::RiskBound::kl;
    CHECK(cascade::calibrate(t, betting).saving > cascade::calibrate(t, kl).saving);
}

TEST_CASE("family-wise calibration fixes the order of its tests on the choosing part alone") {
    // Spoil the test part only (every cheap model's answer there wrong where the reference is
    // right and right where it is wrong): the choosing part's order is unchanged, but now only
    // the reference can pass.
    const auto t = table_of(synthetic(1000, 3));
    auto o = options(0.95, cascade::CalibrationMode::family_wise);
    o.selection_fraction = 0.5;
    const auto parts = cascade::split_by_query(t, *o.selection_fraction, o.split_seed);
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (const auto* part : {&parts.first, &parts.second}) {
        const bool spoil = part == &parts.second;
        const std::size_t big = part->model_index("big");
        for (std::size_t q = 0; q < part->query_count(); ++q) {
            for (const std::string m : {"small", "medium", "big"}) {
                const std::size_t i = part->model_index(m);
                const double quality = spoil && m != "big" ? 1.0 - part->quality(big, q) : part->quality(i, q);
                const double conf = part->confidence_column(i)[q];
                csv += part->queries()[q] + "," + m + "," + cascade::detail::format_number(quality) + "," +
                       cascade::detail::format_number(part->cost(i, q)) + "," +
                       (std::isnan(conf) ? std::string() : cascade::detail::format_number(conf)) + "\n";
            }
        }
    }
    const auto honest = cascade::calibrate(t, o);
    const auto c = cascade::calibrate(table_of(csv), o);
    CHECK(honest.chain.size() > 1);
    CHECK(c.target_met);
    CHECK(c.chain == std::vector<std::string>{"big"});
    CHECK(c.guarantee == cascade::CalibrationGuarantee::family_wise);
}

TEST_CASE("family-wise calibration gives the same answer whatever the order of the log") {
    // A log grouped as logs often are: a benchmark the cheap model finds easy, then one it finds
    // hard. The sequential test stops where its wealth peaks, so it must not take the queries in
    // the log's order (easy ones first would raise the peak): reversing the log changes nothing.
    cascade_test::Lcg random(17);
    std::vector<std::string> blocks;
    for (int i = 0; i < 1200; ++i) {
        const bool easy = i < 600;
        const double conf = std::floor(random.unit() * 64.0) / 64.0;
        const int cheap_right = random.unit() < (easy ? 0.97 : 0.55 + 0.4 * conf) ? 1 : 0;
        const int ref_right = random.unit() < 0.9 ? 1 : 0;
        const std::string id = "q" + std::to_string(i);
        blocks.push_back(id + ",cheap," + std::to_string(cheap_right) + ",0.125," + cascade::detail::format_number(conf) +
                         "\n" + id + ",ref," + std::to_string(ref_right) + ",1,\n");
    }
    auto log_of = [&](bool reversed) {
        std::string csv = "query_id,model,quality,cost,confidence\n";
        for (std::size_t i = 0; i < blocks.size(); ++i) csv += blocks[reversed ? blocks.size() - 1 - i : i];
        return table_of(csv);
    };
    for (const double target : {0.9, 0.95}) {
        INFO("target " << target);
        cascade::CalibrateOptions o;
        o.reference = "ref";
        o.target = target;
        const auto a = cascade::calibrate(log_of(false), o);
        const auto b = cascade::calibrate(log_of(true), o);
        CHECK(a.chain == b.chain);
        CHECK(a.thresholds == b.thresholds);
        CHECK(a.tested == b.tested);
        CHECK(a.loss_bound == b.loss_bound);
        CHECK(a.target_met == b.target_met);
    }
}

TEST_CASE("family-wise calibration refuses a log too small to split and a bad selection fraction") {
    const auto t = table_of(synthetic(50, 7));
    auto o = options(0.9, cascade::CalibrationMode::family_wise);
    o.selection_fraction = 0.01;
    CHECK_THROWS_WITH(cascade::calibrate(t, o), Catch::Contains("cannot be split"));
    for (const double f : {0.0, 1.0, std::nan("")}) {
        o.selection_fraction = f;
        CHECK_THROWS_WITH(cascade::calibrate(t, o), Catch::Contains("selection_fraction"));
    }
    o.selection_fraction = 0.5;
    o.max_tested = 0;
    CHECK_THROWS_WITH(cascade::calibrate(t, o), Catch::Contains("max_tested"));
}

TEST_CASE("a budget gives the best quality that costs at most that") {
    const auto t = table_of(synthetic(300, 4));
    auto o = options(0.95, cascade::CalibrationMode::naive);
    o.budget = 0.006;
    const auto c = cascade::calibrate(t, o);
    CHECK(c.target_met);
    CHECK(c.train.cost <= 0.006 + 1e-15);
    // No setting on the curves of the two-tier chains within budget does better.
    for (const auto& chain : {std::vector<std::string>{"small", "big"}, std::vector<std::string>{"medium", "big"},
                              std::vector<std::string>{"small", "medium"}}) {
        for (const auto& p : cascade::cascade_curve(t, chain, {1000000})) {
            if (p.cost <= 0.006) CHECK(p.quality <= c.train.quality + 1e-12);
        }
    }
    o.budget = 0.0001;  // below every model
    const auto none = cascade::calibrate(t, o);
    CHECK_FALSE(none.target_met);
    CHECK(none.chain == std::vector<std::string>{"small"});
}

TEST_CASE("without the reference among the models an unreachable target is reported, not met") {
    const auto t = table_of(synthetic(300, 5));
    auto o = options(0.99, cascade::CalibrationMode::naive);
    o.models = {"small", "medium"};
    const auto c = cascade::calibrate(t, o);
    CHECK_FALSE(c.target_met);
    for (const auto& m : c.chain) CHECK(m != "big");
}

TEST_CASE("max_tiers limits the chains searched, and progress reports each") {
    const auto t = table_of(synthetic(100, 6));
    auto o = options(0.9, cascade::CalibrationMode::naive);
    o.max_tiers = 2;
    std::vector<std::size_t> seen;
    o.progress = [&](std::size_t done, std::size_t total) {
        CHECK(total == 6);
        seen.push_back(done);
    };
    const auto c = cascade::calibrate(t, o);
    CHECK(c.chains == 6);
    CHECK(seen == std::vector<std::size_t>{1, 2, 3, 4, 5, 6});
    CHECK(c.chain.size() <= 2);
}

TEST_CASE("calibration refuses bad options and incomplete logs") {
    const auto t = table_of(synthetic(50, 7));
    auto bad = [&](auto change) {
        auto o = options(0.9, cascade::CalibrationMode::family_wise);
        change(o);
        return o;
    };
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.reference = ""; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.reference = "nope"; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.target = 0.0; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.target = std::nan(""); })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.target = 1.2; })), std::invalid_argument);
    CHECK_NOTHROW(cascade::calibrate(t, bad([](auto& o) { o.target = 1.0; })));
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.max_tiers = 0; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.delta = 0.0; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.delta = 1.0; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.budget = -1.0; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.models = {"small", "small"}; })), std::invalid_argument);
    CHECK_THROWS_AS(cascade::calibrate(t, bad([](auto& o) { o.models = {"small", "huge"}; })), std::invalid_argument);

    const auto gap = table_of("query_id,model,quality,cost,confidence\nq1,a,1,1,0.5\nq1,big,1,2,\nq2,big,1,2,\n");
    try {
        cascade::calibrate(gap, options(0.9, cascade::CalibrationMode::naive));
        FAIL("no throw");
    } catch (const cascade::ParseError& e) {
        CHECK(e.reason().find("query \"q2\" has no outcome for model \"a\"") != std::string::npos);
    }
}

TEST_CASE("the KL bound matches the exact binomial bound when nothing was seen, and narrows with n") {
    using cascade::detail::kl_lower_bound;
    using cascade::detail::kl_upper_bound;
    // For zero events the Clopper-Pearson upper bound is 1 - delta^(1/n); so is the KL bound.
    CHECK(kl_upper_bound(0.0, 100, 0.05) == approx(1.0 - std::pow(0.05, 0.01)).epsilon(1e-9));
    CHECK(kl_upper_bound(0.1, 1000, 0.05) > 0.1);
    CHECK(kl_upper_bound(0.1, 1000, 0.05) < kl_upper_bound(0.1, 100, 0.05));
    CHECK(kl_upper_bound(0.1, 1000, 0.05) < kl_upper_bound(0.1, 1000, 0.01));
    CHECK(kl_lower_bound(0.1, 1000, 0.05) < 0.1);
    CHECK(kl_lower_bound(0.0, 1000, 0.05) == 0.0);
    CHECK(kl_upper_bound(1.0, 10, 0.05) == 1.0);
    // Tighter than Hoeffding's bound for a rare event.
    CHECK(kl_upper_bound(0.02, 1000, 0.05) < 0.02 + std::sqrt(std::log(1.0 / 0.05) / 2000.0));
}

namespace {

// Two queries, `models` models m0..m{models-1} with rising cost; m{models-1} is the best.
std::string wide_log(std::size_t models) {
    std::string text = "query_id,model,quality,cost,confidence\n";
    for (const char* q : {"q1", "q2"}) {
        for (std::size_t m = 0; m < models; ++m) {
            text += std::string(q) + ",m" + std::to_string(m) + "," + (m + 1 == models || m % 3 == 0 ? "1" : "0") +
                    "," + std::to_string(m + 1) + ",0." + std::to_string(m % 10) + "\n";
        }
    }
    return text;
}

}  // namespace

TEST_CASE("more chains than max_chains are refused before the search, saying how many and what to do") {
    const auto t = table_of(wide_log(60));
    auto o = options(0.9, cascade::CalibrationMode::naive);
    o.reference = "m59";
    // 60 + 1,770 + 34,220 chains of 1 to 3 of 60 models.
    try {
        const auto c = cascade::calibrate(t, o);
        FAIL("searched " << c.chains << " chains");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        CHECK(what.find("chains of 1 to 3 of 60 models number 36050, more than max_chains (10000)") !=
              std::string::npos);
        CHECK(what.find("--models") != std::string::npos);
        CHECK(what.find("--max-chains") != std::string::npos);
    }
    o.models = {"m0", "m3", "m59"};
    CHECK(cascade::calibrate(t, o).chains == 7);
}

TEST_CASE("max_chains is the exact bound: at it the search runs every chain") {
    const auto t = table_of(wide_log(30));
    auto o = options(0.9, cascade::CalibrationMode::naive);
    o.reference = "m29";
    o.max_chains = 30 + 435 + 4060;
    std::size_t last_total = 0;
    o.progress = [&](std::size_t, std::size_t total) { last_total = total; };
    const auto c = cascade::calibrate(t, o);
    CHECK(c.chains == 4525);
    CHECK(last_total == 4525);
    // The cheapest model right on both queries alone meets the target.
    CHECK(c.chain == std::vector<std::string>{"m0"});
    o.max_chains = 4524;
    CHECK_THROWS_AS(cascade::calibrate(t, o), std::invalid_argument);
}

TEST_CASE("chain_count counts subsets of 1 to k models and saturates instead of overflowing") {
    using cascade::detail::chain_count;
    CHECK(chain_count(3, 2) == 6);
    CHECK(chain_count(10, 4) == 10 + 45 + 120 + 210);
    CHECK(chain_count(1000, 3) == 1000 + 499500 + 166167000);
    CHECK(chain_count(2, 8) == 3);
    CHECK(chain_count(0, 3) == 0);
    CHECK(chain_count(std::numeric_limits<std::size_t>::max() / 2, 8) == std::numeric_limits<std::size_t>::max());
}

TEST_CASE("which settings family-wise calibration tests depends on the choosing part alone") {
    // Two logs alike on the choosing part. On the testing part the cheap model is always right
    // and the reference often wrong, so every setting walked passes by a wide margin and `tested`
    // counts the whole walk; the logs differ there only in how often the reference is right,
    // which moves the testing part's allowed loss. Fixed-sequence testing is valid only if the
    // walk does not move too.
    constexpr std::size_t n = 2000;
    auto id_of = [](std::size_t i) { return "q" + std::to_string(i); };
    auto confidence_of = [](std::size_t i) { return static_cast<double>((i * 7919) % n) / static_cast<double>(n); };
    std::string ids = "query_id,model,quality,cost,confidence\n";
    for (std::size_t i = 0; i < n; ++i) ids += id_of(i) + ",ref,1,0.01,\n";
    const auto parts = cascade::split_by_query(table_of(ids), 0.5, 1);
    const std::set<std::string> testing(parts.second.queries().begin(), parts.second.queries().end());
    auto log_with = [&](bool reference_wrong_more) {
        std::string csv = "query_id,model,quality,cost,confidence\n";
        for (std::size_t i = 0; i < n; ++i) {
            const std::string id = id_of(i);
            const double c = confidence_of(i);
            // Choosing part: the cheap model is right when confident (above 0.4).
            std::string cheap = c >= 0.4 ? "1" : "0";
            std::string ref = "1";
            if (testing.count(id) != 0) {
                ref = i % 5 < (reference_wrong_more ? 2U : 1U) ? "0" : "1";
                cheap = "1";
            }
            csv += id + ",cheap," + cheap + ",0.001," + cascade::detail::format_number(c) + "\n";
            csv += id + ",ref," + ref + ",0.01,\n";
        }
        return table_of(csv);
    };
    cascade::CalibrateOptions o;
    o.reference = "ref";
    o.target = 0.95;
    o.max_tested = 100000;  // no thinning: `tested` is the whole walk
    const auto a = cascade::calibrate(log_with(false), o);
    const auto b = cascade::calibrate(log_with(true), o);
    CHECK(a.allowed_loss > b.allowed_loss);
    CHECK(a.tested > 1);
    CHECK(a.tested == b.tested);
}
