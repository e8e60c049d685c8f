#include "catch.hpp"
#include "text_checks.hpp"

#include <cascade/verify/calibration_map.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace v = cascade::verify;
using cascade::Verdict;
using v::LabelledScore;

namespace {

// Uniform doubles from the raw output of mt19937, which the standard fixes (its distributions
// it does not), so the fixtures are the same with every standard library.
struct Uniform {
    std::mt19937 rng;
    explicit Uniform(std::uint32_t seed) : rng(seed) {}
    double operator()() { return static_cast<double>(rng()) / 4294967296.0; }
};

// Scores uniform in [0, 1], right with probability truth(score).
template <class Truth>
std::vector<LabelledScore> sample(std::size_t n, std::uint32_t seed, Truth truth) {
    Uniform u(seed);
    std::vector<LabelledScore> out;
    for (std::size_t i = 0; i < n; ++i) {
        const double s = u();
        out.push_back({s, u() < truth(s)});
    }
    return out;
}

double logistic(double z) { return 1.0 / (1.0 + std::exp(-z)); }

std::vector<LabelledScore> labelled(const std::vector<double>& scores, const std::vector<int>& right) {
    std::vector<LabelledScore> out;
    for (std::size_t i = 0; i < scores.size(); ++i) out.push_back({scores[i], right[i] != 0});
    return out;
}

struct Answer {
    double raw = 0.0;
};

}  // namespace

TEST_CASE("fit_platt recovers the parameters of logistic data") {
    const auto data = sample(6000, 7, [](double s) { return logistic(4.0 * s - 2.0); });
    const v::PlattScaling p = v::fit_platt(data);
    CHECK(p.a() == Approx(4.0).margin(0.5));
    CHECK(p.b() == Approx(-2.0).margin(0.3));
    CHECK(p(0.5) == Approx(logistic(p.a() * 0.5 + p.b())));
}

TEST_CASE("fit_platt stays finite and increasing on scores that separate right from wrong") {
    const auto data = labelled({0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9}, {0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
    const v::PlattScaling p = v::fit_platt(data);
    CHECK(std::isfinite(p.a()));
    CHECK(std::isfinite(p.b()));
    CHECK(p.a() > 0.0);
    CHECK(p(0.1) < 0.2);
    CHECK(p(0.9) > 0.8);
    CHECK(p(0.9) < 1.0);  // the smoothed targets keep it off certainty
    CHECK(p(0.1) > 0.0);
}

TEST_CASE("fit_platt gives a decreasing map for scores that fall as answers get right") {
    const auto data = sample(3000, 11, [](double s) { return 1.0 - s; });
    CHECK(v::fit_platt(data).a() < 0.0);
}

TEST_CASE("fit_platt with every score equal gives the share of right answers") {
    std::vector<LabelledScore> data;
    for (int i = 0; i < 40; ++i) data.push_back({0.7, i % 4 != 0});  // 30 of 40 right
    const v::PlattScaling p = v::fit_platt(data);
    CHECK(p(0.7) == Approx(31.0 / 42.0).margin(0.01));  // (N+ + 1) / (N + 2), Platt's smoothing
}

TEST_CASE("fit_platt works in the scores' own units, large or small") {
    auto big = sample(3000, 5, [](double s) { return logistic(4.0 * s - 2.0); });
    for (auto& e : big) e.score = e.score * 1000.0 - 20000.0;
    const v::PlattScaling p = v::fit_platt(big);
    CHECK(p(-20000.0) == Approx(logistic(-2.0)).margin(0.05));
    CHECK(p(-19000.0) == Approx(logistic(2.0)).margin(0.05));
}

TEST_CASE("a fit refuses too few examples, labels all the same, and non-finite scores") {
    const auto nine = labelled({1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, 1, 0, 1, 0, 1, 0, 1, 0});
    CHECK_THROWS_AS(v::fit_platt(nine), std::invalid_argument);
    CHECK_THROWS_AS(v::fit_isotonic(nine), std::invalid_argument);
    CHECK_NOTHROW(v::fit_platt(nine, 5));

    const auto all_right = labelled({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    try {
        (void)v::fit_isotonic(all_right);
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(contains(e.what(), "cascade::verify::fit_isotonic"));
        CHECK(contains(e.what(), "all 10 examples are right"));
    }
    const auto all_wrong = labelled({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    CHECK_THROWS_WITH(v::fit_platt(all_wrong), Catch::Contains("are wrong"));

    auto with_inf = labelled({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
    with_inf[3].score = -std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(v::fit_platt(with_inf), Catch::Contains("example 4 has score -inf"));
    with_inf[3].score = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(v::fit_isotonic(with_inf), std::invalid_argument);
}

TEST_CASE("fit_isotonic pools adjacent violators and interpolates between the blocks") {
    const auto data = labelled({1, 2, 3, 4, 5, 6}, {0, 1, 0, 0, 1, 1});
    const v::IsotonicCalibration iso = v::fit_isotonic(data, 6);
    // Blocks: {1} -> 0, {2, 3, 4} -> 1/3, {5, 6} -> 1.
    CHECK(iso.x() == std::vector<double>{1, 2, 4, 5, 6});
    CHECK(iso(1.0) == 0.0);
    CHECK(iso(1.5) == Approx(1.0 / 6.0));
    CHECK(iso(3.0) == Approx(1.0 / 3.0));
    CHECK(iso(4.5) == Approx(2.0 / 3.0));
    CHECK(iso(0.0) == 0.0);
    CHECK(iso(100.0) == 1.0);
}

TEST_CASE("fit_isotonic pools equal scores before anything else") {
    const auto data = labelled({1, 1, 1, 1, 2, 2}, {0, 1, 1, 1, 0, 1});
    const v::IsotonicCalibration iso = v::fit_isotonic(data, 6);
    // Score 1: 3 of 4 right, score 2: 1 of 2: a violation, pooled to 4 of 6.
    CHECK(iso(1.0) == Approx(4.0 / 6.0));
    CHECK(iso(2.0) == Approx(4.0 / 6.0));
}

TEST_CASE("fit_isotonic is non-decreasing and within [0, 1] on noisy data") {
    const auto data = sample(2000, 3, [](double s) { return s * s; });
    const v::IsotonicCalibration iso = v::fit_isotonic(data);
    double last = 0.0;
    for (double s = -0.1; s <= 1.1; s += 0.001) {
        const double p = iso(s);
        REQUIRE(p >= last);
        REQUIRE(p <= 1.0);
        last = p;
    }
    CHECK(iso(0.9) == Approx(0.81).margin(0.1));
}

TEST_CASE("the maps refuse invalid parameters") {
    CHECK_THROWS_AS(v::PlattScaling(std::numeric_limits<double>::quiet_NaN(), 0.0), std::invalid_argument);
    CHECK_THROWS_AS(v::IsotonicCalibration({}, {}), std::invalid_argument);
    CHECK_THROWS_AS(v::IsotonicCalibration({1, 2}, {0.5}), std::invalid_argument);
    CHECK_THROWS_AS(v::IsotonicCalibration({1, 2}, {0.6, 0.5}), std::invalid_argument);
    CHECK_THROWS_AS(v::IsotonicCalibration({2, 1}, {0.1, 0.5}), std::invalid_argument);
    CHECK_THROWS_AS(v::IsotonicCalibration({1, 2}, {0.1, 1.5}), std::invalid_argument);
}

TEST_CASE("an isotonic map with knots at the ends of the double range stays a probability") {
    constexpr double big = std::numeric_limits<double>::max();
    // The knots' distance overflows to infinity; interpolating must not divide by it.
    const v::CalibrationMap map = v::CalibrationMap::from_text(
        "cascade-calibration 1\nisotonic 2\n" + cascade::detail::format_number(-big) + " 0.25\n" +
        cascade::detail::format_number(big) + " 0.75\n");
    for (const double score : {-big / 2, -1.0, 0.0, 1e300, big / 2}) {
        const double p = map(score);
        INFO("score " << score << " maps to " << p);
        CHECK(p >= 0.25);
        CHECK(p <= 0.75);
    }
    CHECK(map(0.0) == Approx(0.5));
    CHECK(map(big / 2) == Approx(0.625));
    const v::IsotonicCalibration wide({-big, -1.0, big}, {0.0, 0.5, 1.0});
    CHECK(wide(0.0) >= 0.5);
    CHECK(wide(0.0) <= 1.0);
    CHECK(wide(-big / 2) == Approx(0.25));
}

TEST_CASE("a calibration saved as text loads back to the same map") {
    const auto data = sample(500, 9, [](double s) { return s; });
    const v::CalibrationMap platt(v::fit_platt(data));
    const v::CalibrationMap iso(v::fit_isotonic(data));
    for (const v::CalibrationMap* c : {&platt, &iso}) {
        const std::string text = c->to_text();
        CHECK(contains(text, "cascade-calibration 1\n"));
        const v::CalibrationMap back = v::CalibrationMap::from_text(text);
        CHECK(back.is_platt() == c->is_platt());
        for (double s = -0.2; s < 1.2; s += 0.01) REQUIRE(back(s) == (*c)(s));
        std::stringstream stream;
        c->save(stream);
        CHECK(v::CalibrationMap::load(stream, "saved.txt")(0.5) == (*c)(0.5));
    }
    CHECK(v::CalibrationMap::from_text("cascade-calibration 1\n\nplatt 2 -1\n")(0.5) == Approx(0.5));
}

TEST_CASE("loading a malformed calibration names the source and the line") {
    auto error_of = [](const std::string& text) -> std::string {
        try {
            (void)v::CalibrationMap::from_text(text, "cal.txt");
        } catch (const cascade::ParseError& e) {
            return e.what();
        }
        return "no error";
    };
    CHECK(contains(error_of(""), "cal.txt:1: unexpected end of input"));
    CHECK(contains(error_of("calibration 1\n"), "cal.txt:1: expected \"cascade-calibration 1\""));
    CHECK(contains(error_of("cascade-calibration 2\n"), "cal.txt:1: unknown format version"));
    CHECK(contains(error_of("cascade-calibration 1\nplatt 1 x\n"), "cal.txt:2: \"x\" is not a number"));
    CHECK(contains(error_of("cascade-calibration 1\nplatt nan 1\n"), "cal.txt:2:"));
    CHECK(contains(error_of("cascade-calibration 1\nlinear 1 2\n"), "cal.txt:2: expected \"platt"));
    CHECK(contains(error_of("cascade-calibration 1\nisotonic 2.5\n"), "cal.txt:2: the knot count"));
    CHECK(contains(error_of("cascade-calibration 1\nisotonic 2\n0 0.1\n"), "cal.txt:4: unexpected end of input"));
    CHECK(contains(error_of("cascade-calibration 1\nisotonic 2\n0 0.5\n1\n"), "cal.txt:4: expected a knot"));
    CHECK(contains(error_of("cascade-calibration 1\nisotonic 2\n0 0.5\n1 0.2\n"), "y decreases"));
}

TEST_CASE("expected_calibration_error is 0 for calibrated scores and the gap for overconfident ones") {
    const auto calibrated_data = sample(20000, 21, [](double s) { return s; });
    CHECK(v::expected_calibration_error(calibrated_data) < 0.02);

    std::vector<LabelledScore> overconfident;
    for (int i = 0; i < 100; ++i) overconfident.push_back({0.9, i % 2 == 0});
    CHECK(v::expected_calibration_error(overconfident) == Approx(0.4));

    CHECK_THROWS_AS(v::expected_calibration_error({}), std::invalid_argument);
    CHECK_THROWS_AS(v::expected_calibration_error(overconfident, 0), std::invalid_argument);
    CHECK_THROWS_AS(v::expected_calibration_error({{1.5, true}}), std::invalid_argument);
}

TEST_CASE("calibrated maps a part's raw score and keeps its cost and note") {
    const v::PlattScaling p(1.0, 2.0);
    auto raw_logprob = [](const Answer& a) { return a.raw; };  // e.g. -2.0: not a confidence itself
    auto c = v::calibrated(raw_logprob, p);
    CHECK(c(Answer{-2.0}).confidence == Approx(0.5));
    CHECK(c(Answer{0.0}).confidence == Approx(logistic(2.0)));

    auto paid = [](const Answer& a) { return Verdict{a.raw, 0.01, "judge: 7"}; };
    const Verdict out = v::calibrated(paid, p)(Answer{-2.0});
    CHECK(out.confidence == Approx(0.5));
    CHECK(out.extra_cost == Approx(0.01));
    CHECK(out.note == "judge: 7");

    auto with_request = [](const std::string& q, const Answer&) { return q == "hard" ? -10.0 : 10.0; };
    auto c2 = v::calibrated(with_request, p);
    CHECK(c2(std::string("hard"), Answer{}).confidence < 0.01);
    CHECK(c2(std::string("easy"), Answer{}).confidence > 0.99);
    STATIC_REQUIRE_FALSE(std::is_invocable_v<decltype(c2)&, const Answer&>);
    STATIC_REQUIRE(std::is_invocable_v<decltype(c)&, const Answer&>);
}

TEST_CASE("calibrated refuses a NaN score and a map that leaves [0, 1]") {
    auto nan_part = [](const Answer&) { return std::numeric_limits<double>::quiet_NaN(); };
    CHECK_THROWS_AS(v::calibrated(nan_part, v::PlattScaling(1, 0))(Answer{}), std::domain_error);
    auto bad_map = [](double s) { return s * 2.0; };
    CHECK_THROWS_WITH(v::calibrated([](const Answer&) { return 0.9; }, bad_map)(Answer{}),
                      Catch::Contains("not a probability"));
}

namespace {

// The share of right answers among those a map scores at `threshold` or more.
template <class Map>
double accuracy_above(const std::vector<LabelledScore>& test, Map map, double threshold) {
    double right = 0.0, accepted = 0.0;
    for (const LabelledScore& e : test) {
        if (map(e.score) >= threshold) {
            accepted += 1.0;
            right += e.correct ? 1.0 : 0.0;
        }
    }
    REQUIRE(accepted > 100.0);
    return right / accepted;
}

}  // namespace

TEST_CASE("after isotonic calibration a threshold of 0.9 accepts answers that are about 90% right") {
    // The raw score is overconfident: an answer scored s is right with probability s^4.
    auto truth = [](double s) { return s * s * s * s; };
    const auto train = sample(20000, 31, truth);
    const auto test = sample(20000, 32, truth);
    CHECK(accuracy_above(test, [](double s) { return s; }, 0.9) < 0.85);
    CHECK(accuracy_above(test, v::fit_isotonic(train), 0.9) > 0.88);
}

TEST_CASE("after Platt calibration a threshold of 0.9 accepts answers that are about 90% right") {
    // Right with a logistic probability that the raw score overstates near the top.
    auto truth = [](double s) { return logistic(20.0 * (s - 0.85)); };
    const auto train = sample(20000, 41, truth);
    const auto test = sample(20000, 42, truth);
    CHECK(accuracy_above(test, [](double s) { return s; }, 0.9) < 0.89);
    CHECK(accuracy_above(test, v::fit_platt(train), 0.9) > 0.9);
}
