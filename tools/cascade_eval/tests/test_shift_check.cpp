// cascade-eval calibrate's shift check on two fixtures: a test log drawn like the training log,
// and one whose confidences moved.
#include "catch.hpp"

#include <cascade/detail/json.hpp>
#include <cascade/detail/number.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "fixture.hpp"
#include "tool_run.hpp"

namespace fs = std::filesystem;

using cascade::detail::JsonValue;
using cascade::detail::parse_json;
using namespace cascade_eval_tests;  // run, write, dir, at: the tool's test kit

namespace {

// The fixture with every confidence doubled (log-probabilities further from 0): the models'
// answers and costs are drawn alike, their confidences are not.
std::string with_doubled_confidences(const std::string& csv) {
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);
    std::string out = line + "\n";
    while (std::getline(in, line)) {
        std::vector<std::string> cells;
        std::istringstream fields(line);
        for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
        double c = 0.0;
        // Built before any test runs, so a bad fixture stops the program rather than a test.
        if (!cascade::detail::parse_decimal(cells.at(4), c)) throw std::runtime_error("fixture: bad confidence " + cells[4]);
        cells[4] = cascade::detail::format_number(2.0 * c);
        for (std::size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + cells[i];
        out += ",\n";  // the empty latency_ms that getline dropped
    }
    return out;
}

const std::string train_csv = write("train.csv", cascade_eval_tests::outcomes_csv(600, 1));
const std::string same_csv = write("same.csv", cascade_eval_tests::outcomes_csv(600, 2));
const std::string shifted_csv = write("shifted.csv", with_doubled_confidences(cascade_eval_tests::outcomes_csv(600, 3)));

std::vector<std::string> calibrate(const std::string& test, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"calibrate", "--train", train_csv, "--test", test, "--reference", "big"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

}  // namespace

TEST_CASE("calibrate --test finds no shift between logs drawn alike") {
    const Run r = run(calibrate(same_csv, {"--json"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    const JsonValue& shift = at(v, "shift");
    CHECK_FALSE(at(shift, "premise_in_doubt").as_bool());
    CHECK(at(shift, "alpha").as_number() == 0.01);
    CHECK(at(shift, "correction").as_string() == "holm");
    CHECK(at(shift, "p_value").as_number() >= 0.01);
    CHECK(at(shift, "p_value").as_number() <= 1.0);
    const auto& tests = at(shift, "tests").as_array();
    const std::size_t tiers = at(v, "chain").as_array().size();
    REQUIRE(tiers >= 2);
    CHECK(tests.size() == tiers + 1);  // one test of confidences per tier, and the tier shares
    CHECK(at(shift, "tests_made").as_number() == static_cast<double>(tests.size()));
    for (const JsonValue& t : tests) {
        CHECK(at(t, "tested").as_bool());
        CHECK_FALSE(at(t, "shifted").as_bool());
        CHECK(at(t, "p_value").as_number() >= 0.0);
        CHECK(at(t, "adjusted_p_value").as_number() >= at(t, "p_value").as_number());
    }
    // The first tier sees every query; the tier shares count every query.
    CHECK(at(tests.front(), "reference_size").as_number() == 600);
    CHECK(at(tests.front(), "other_size").as_number() == 600);
    CHECK(at(tests.back(), "kind").as_string() == "tier_shares");
    CHECK(at(tests.back(), "other_size").as_number() == 600);

    const Run text = run(calibrate(same_csv));
    REQUIRE(text.code == 0);
    CHECK(text.out.find("shift check, train vs test (Holm over") != std::string::npos);
    CHECK(text.out.find("no shift detected at alpha 0.01") != std::string::npos);
    CHECK(text.out.find("premise is in doubt") == std::string::npos);
    CHECK(text.err.find("premise is in doubt") == std::string::npos);
}

TEST_CASE("calibrate --test reports a shift in the confidences and says the premise is in doubt") {
    const Run r = run(calibrate(shifted_csv, {"--json"}));
    REQUIRE(r.code == 0);  // a warning, not a failure: the report is printed
    const JsonValue v = parse_json(r.out);
    const JsonValue& shift = at(v, "shift");
    CHECK(at(shift, "premise_in_doubt").as_bool());
    CHECK(at(shift, "p_value").as_number() < 1e-6);
    const JsonValue& first = at(shift, "tests").as_array().front();
    CHECK(at(first, "kind").as_string() == "confidences");
    CHECK(at(first, "shifted").as_bool());
    CHECK(at(first, "name").as_string() == "confidences of " + at(v, "chain").as_array().front().as_string() + " (tier 1)");
    CHECK(r.err.find("cascade-eval: the guarantee's premise is in doubt") != std::string::npos);

    const Run text = run(calibrate(shifted_csv));
    REQUIRE(text.code == 0);
    CHECK(text.out.find("the guarantee's premise is in doubt: the test traffic is not drawn like the train traffic "
                        "(shifted: confidences of") != std::string::npos);
    CHECK(text.out.find("SHIFTED") != std::string::npos);
    CHECK(text.out.find("no shift detected") == std::string::npos);
}

TEST_CASE("--shift-alpha sets the level and is checked; without --test there is no shift check") {
    const Run r = run(calibrate(same_csv, {"--json", "--shift-alpha", "0.2"}));
    REQUIRE(r.code == 0);
    CHECK(at(at(parse_json(r.out), "shift"), "alpha").as_number() == 0.2);
    for (const char* bad : {"0", "1", "-0.1"}) {
        const Run b = run(calibrate(same_csv, {"--shift-alpha", bad}));
        CHECK(b.code == 2);
        CHECK(b.err.find("option --shift-alpha") != std::string::npos);
    }
    const Run alone = run({"calibrate", "--train", train_csv, "--reference", "big", "--json"});
    REQUIRE(alone.code == 0);
    CHECK(parse_json(alone.out).find("shift") == nullptr);
}
