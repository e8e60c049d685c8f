// cascade-eval monitor on a generated stream whose cheap model degrades silently half-way.
#include "catch.hpp"

#include <cascade/detail/json.hpp>
#include <cascade/detail/number.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../../tests/support/synthetic_outcomes.hpp"
#include "tool_run.hpp"

using cascade::detail::JsonValue;
using cascade::detail::parse_json;
using namespace cascade_eval_tests;  // run, write, at: the tool's test kit

namespace {

constexpr std::size_t change_at = 2000;

// "cheap" ($0.25) then "ref" ($2, right 90% of the time). Above its threshold 0.5 cheap is right
// 97% of the time until query `change_at`, then 30% of the time with the same confidences.
std::string stream_csv(std::size_t queries, std::size_t change, std::uint64_t seed) {
    cascade_test::Lcg random(seed);
    std::string out = "query_id,model,quality,cost,confidence\n";
    for (std::size_t q = 0; q < queries; ++q) {
        const double confidence = random.unit();
        const double skill = confidence >= 0.5 ? (q >= change ? 0.3 : 0.97) : 0.3;
        const int cheap_right = random.unit() < skill ? 1 : 0;
        const int ref_right = random.unit() < 0.9 ? 1 : 0;
        std::string id = "s";  // built in two steps: GCC 12 at -O3 warns on "s" + std::to_string(q)
        id += std::to_string(q);
        out += id + ",cheap," + std::to_string(cheap_right) + ",0.25," + cascade::detail::format_number(confidence) + "\n";
        out += id + ",ref," + std::to_string(ref_right) + ",2,\n";
    }
    return out;
}

const std::string drift_csv = write("drift.csv", stream_csv(4000, change_at, 5)).string();
const std::string steady_csv = write("steady.csv", stream_csv(4000, 4000, 6)).string();
const std::string calibration_json =
    write("calibration.json",
          "{\"version\": 1, \"chain\": [\"cheap\", \"ref\"], \"thresholds\": [0.5], \"reference\": \"ref\", \"target\": 0.95}\n")
        .string();

std::vector<std::string> monitor(const std::string& log, std::vector<std::string> more) {
    std::vector<std::string> args = {"monitor", "--log", log, "--label-rate", "0.2"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

}  // namespace

TEST_CASE("monitor --json reports an alarm after a planted degradation, and none before it") {
    const Run r = run(monitor(drift_csv, {"--chain", "cheap,ref", "--thresholds", "0.5", "--reference", "ref", "--json"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    CHECK(at(v, "queries").as_number() == 4000);
    CHECK(at(v, "windows").as_number() == 20);
    CHECK(at(v, "delta").as_number() == 0.001);
    CHECK(at(v, "act").as_bool() == false);
    const double labels = at(v, "labels").as_number();
    CHECK(labels > 0);
    // Every label here is a shadow call of ref at $2.
    CHECK(at(v, "label_cost").as_number() == 2 * labels);
    const double reference_cost = at(v, "reference_cost").as_number();
    CHECK(reference_cost == 8000);
    CHECK(at(v, "saving").as_number() ==
          Approx(1 - (at(v, "cost").as_number() + at(v, "label_cost").as_number()) / reference_cost));
    const auto& alarms = at(v, "alarms").as_array();
    REQUIRE(alarms.size() == 1);
    CHECK(at(alarms[0], "query").as_number() >= change_at);
    CHECK(at(alarms[0], "query").as_number() < change_at + 1000);
    CHECK(at(alarms[0], "evidence").as_number() >= 1000);
    CHECK(at(alarms[0], "model").as_string() == "cheap");
    // The loss estimate averages the labels behind the evidence, no more than the tier's labels.
    CHECK(at(alarms[0], "loss_estimate").as_number() > 0);
    CHECK(at(alarms[0], "labels_since").as_number() >= 1);
    CHECK(at(alarms[0], "labels_since").as_number() <= at(alarms[0], "labels").as_number());
    CHECK(at(v, "adjustments").as_array().empty());
    const JsonValue& fixed_thresholds = at(v, "static");
    CHECK(at(fixed_thresholds, "windows_below_target").as_number() == at(v, "windows_below_target").as_number());
    CHECK(at(fixed_thresholds, "label_cost").as_number() == 0);
    CHECK(at(fixed_thresholds, "saving").as_number() > at(v, "saving").as_number());
}

TEST_CASE("monitor --act rejects the degraded tier and keeps more windows on target") {
    const Run r = run(monitor(drift_csv, {"--calibration", calibration_json, "--act", "--json"}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    CHECK(at(v, "reference").as_string() == "ref");
    CHECK(at(v, "target").as_number() == 0.95);
    const auto& adjustments = at(v, "adjustments").as_array();
    REQUIRE(adjustments.size() == 1);
    CHECK(at(adjustments[0], "action").as_string() == "reject");
    CHECK(at(adjustments[0], "query").as_number() >= change_at);
    const double acting = at(v, "windows_below_target").as_number();
    const double left_alone = at(at(v, "static"), "windows_below_target").as_number();
    CHECK(left_alone >= 8);
    CHECK(acting + 4 <= left_alone);

    const Run text = run(monitor(drift_csv, {"--calibration", calibration_json, "--act"}));
    REQUIRE(text.code == 0);
    CHECK(text.out.find("acting on alarms") != std::string::npos);
    CHECK(text.out.find("alarms:\n    query ") != std::string::npos);
    CHECK(text.out.find("reject query ") != std::string::npos);
}

TEST_CASE("monitor --suspect-label-rate labels a suspect tier's answers at that rate") {
    const std::vector<std::string> chain = {"--chain", "cheap,ref", "--thresholds", "0.5", "--json"};
    const Run steady = run(monitor(drift_csv, chain));
    std::vector<std::string> more = chain;
    more.insert(more.end(), {"--suspect-label-rate", "1"});
    const Run suspect = run(monitor(drift_csv, more));
    INFO(suspect.err);
    REQUIRE(steady.code == 0);
    REQUIRE(suspect.code == 0);
    const JsonValue a = parse_json(steady.out);
    const JsonValue b = parse_json(suspect.out);
    CHECK(at(a, "suspect_label_rate").is_null());
    CHECK(at(b, "suspect_label_rate").as_number() == 1);
    // The same draws, and every answer labelled while the tier holds evidence: more labels, and
    // here an alarm no later.
    CHECK(at(b, "labels").as_number() > at(a, "labels").as_number());
    REQUIRE(at(b, "alarms").as_array().size() == 1);
    CHECK(at(at(b, "alarms").as_array()[0], "query").as_number() >= change_at);
    CHECK(at(at(b, "alarms").as_array()[0], "query").as_number() <=
          at(at(a, "alarms").as_array()[0], "query").as_number());
    more.pop_back();
    more.emplace_back("1.5");
    const Run wrong = run(monitor(drift_csv, more));
    CHECK(wrong.code == 2);
    CHECK(wrong.err.find("option --suspect-label-rate") != std::string::npos);
}

TEST_CASE("monitor --act-on-suspicion holds a suspect tier back, with the same first alarm") {
    const std::vector<std::string> chain = {"--chain", "cheap,ref", "--thresholds", "0.5", "--json", "--act",
                                            "--suspect-label-rate", "1"};
    const Run on_alarm = run(monitor(drift_csv, chain));
    std::vector<std::string> more = chain;
    more.emplace_back("--act-on-suspicion");
    const Run on_suspicion = run(monitor(drift_csv, more));
    INFO(on_suspicion.err);
    REQUIRE(on_alarm.code == 0);
    REQUIRE(on_suspicion.code == 0);
    const JsonValue a = parse_json(on_alarm.out);
    const JsonValue b = parse_json(on_suspicion.out);
    CHECK_FALSE(at(a, "act_on_suspicion").as_bool());
    CHECK(at(b, "act_on_suspicion").as_bool());
    // Up to the first alarm the held-back answers are labelled as the answers given would be.
    REQUIRE_FALSE(at(a, "alarms").as_array().empty());
    REQUIRE_FALSE(at(b, "alarms").as_array().empty());
    CHECK(at(at(b, "alarms").as_array()[0], "query").as_number() == at(at(a, "alarms").as_array()[0], "query").as_number());
    CHECK(at(b, "quality").as_number() > at(a, "quality").as_number());
    const Run alone = run(monitor(drift_csv, {"--chain", "cheap,ref", "--thresholds", "0.5", "--act-on-suspicion"}));
    CHECK(alone.code == 2);
    CHECK(alone.err.find("option --act-on-suspicion goes with --act and --suspect-label-rate") != std::string::npos);
}

TEST_CASE("monitor stays quiet on a stream that keeps the target") {
    const Run r = run(monitor(steady_csv, {"--chain", "cheap,ref", "--thresholds", "0.5", "--act", "--json"}));
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    CHECK(at(v, "alarms").as_array().empty());
    CHECK(at(v, "windows_below_target").as_number() == 0);
    const Run text = run(monitor(steady_csv, {"--chain", "cheap,ref", "--thresholds", "0.5"}));
    REQUIRE(text.code == 0);
    CHECK(text.out.find("no alarm") != std::string::npos);
}

TEST_CASE("monitor names the flag that is wrong") {
    auto fails_naming = [](std::vector<std::string> more, const std::string& flag) {
        const Run r = run(monitor(steady_csv, more));
        INFO(r.err);
        CHECK(r.code == 2);
        CHECK(r.err.find(flag) != std::string::npos);
    };
    fails_naming({"--chain", "cheap,ref", "--thresholds", "0.5", "--label-rate", "1.5"}, "option --label-rate");
    fails_naming({"--chain", "cheap,ref", "--thresholds", "0.5", "--window", "0"}, "option --window");
    fails_naming({"--chain", "cheap,ref", "--thresholds", "0.5,0.7"}, "option --thresholds: a chain of 2 tiers needs 1");
    fails_naming({"--chain", "cheap,ref", "--thresholds", "high"}, "option --thresholds: \"high\" is not a number");
    fails_naming({"--chain", "cheap,nope", "--thresholds", "0.5"}, "option --chain: no model \"nope\"");
    fails_naming({"--chain", "cheap,ref", "--thresholds", "0.5", "--reference", "nope"}, "option --reference: no model");
    fails_naming({"--chain", "cheap,ref", "--thresholds", "0.5", "--alpha", "1"}, "option --alpha");
    fails_naming({"--calibration", calibration_json, "--chain", "cheap,ref"}, "--calibration gives the chain");
    fails_naming({}, "needs --calibration FILE or --chain");
}
