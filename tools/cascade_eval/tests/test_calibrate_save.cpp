// cascade-eval calibrate --save: the calibration file it writes names the chain, thresholds and
// target it chose and the data it chose them on, and configures a running cascade.
#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/detail/json.hpp>
#include <cascade/eval/calibration_file.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
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

}  // namespace

TEST_CASE("calibrate --save writes the chosen chain, the target and the training data's digest") {
    const std::string csv = cascade_eval_tests::outcomes_csv(600, 1);
    const std::string train = write("train.csv", csv);
    const std::string saved = (dir() / "calibration.json").string();
    fs::remove(saved);
    const Run r = run({"calibrate", "--train", train, "--reference", "big", "--target", "0.9", "--json", "--save", saved});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue report = parse_json(r.out);
    const JsonValue file = parse_json(slurp(saved));

    CHECK(at(file, "format").as_string() == "cascade-calibration");
    CHECK(at(file, "version").as_number() == 1);
    CHECK(at(file, "chain").dump() == at(report, "chain").dump());
    CHECK(at(file, "thresholds").dump() == at(report, "thresholds").dump());
    CHECK(at(file, "reference").as_string() == "big");
    CHECK(at(file, "target").as_number() == 0.9);
    CHECK(at(file, "budget").is_null());
    CHECK(at(file, "guarantee").is_string());
    CHECK(at(file, "delta").is_number());
    CHECK(at(file, "target_met").as_bool() == at(report, "target_met").as_bool());
    const JsonValue& data = at(file, "data");
    CHECK(at(data, "digest").as_string() == cascade::describe_data_file(train).digest);
    CHECK(at(data, "bytes").as_number() == static_cast<double>(csv.size()));
    CHECK(at(data, "source").as_string() == train);
    CHECK(at(data, "split").is_null());
    const JsonValue& summary = at(file, "train");
    CHECK(at(summary, "queries").as_number() == 600);
    CHECK(at(summary, "cost").as_number() == at(at(report, "train"), "cost").as_number());
    CHECK(at(summary, "quality").as_number() == at(at(report, "train"), "quality").as_number());

    // The library reads it back and runs the chain it names over registered tiers.
    const cascade::CalibrationFile cal = cascade::load_calibration_file(saved);
    cascade::TierRegistry<int, std::string> registry;
    for (const char* name : {"small", "medium", "big"}) {
        registry.add(name, [name](const int&) { return std::string(name); }, [](const int& q, const std::string&) {
            return q > 0 ? 1.0 : 0.0;
        });
    }
    // The fixture's confidences are log-probabilities; these verifiers give probabilities.
    auto cascade = cascade::configure_cascade(registry, cal, {}, [](double t) { return std::exp(t); });
    CHECK(*cascade.run(1) == cal.chain.front());
    CHECK(*cascade.run(0) == cal.chain.back());
}

TEST_CASE("calibrate --log --split --save records the share and the seed of the split") {
    const std::string log = write("log.csv", cascade_eval_tests::outcomes_csv(800, 3));
    const std::string saved = (dir() / "split.json").string();
    const Run r = run({"calibrate", "--log", log, "--split", "0.6", "--seed", "9", "--reference", "big", "--quiet",
                       "--save", saved});
    INFO(r.err);
    REQUIRE((r.code == 0 || r.code == 3));
    const cascade::CalibrationFile cal = cascade::load_calibration_file(saved);
    CHECK(cal.data.digest == cascade::describe_data_file(log).digest);
    CHECK(cal.data.split == 0.6);
    CHECK(cal.data.seed == 9u);
    CHECK(at(at(parse_json(slurp(saved)), "data"), "seed").as_string() == "9");  // a string: see the next test
}

TEST_CASE("calibrate --save keeps a seed too large for a JSON number exactly") {
    const std::string log = write("log_seed.csv", cascade_eval_tests::outcomes_csv(400, 4));
    for (const char* seed : {"18446744073709551615", "9007199254740993"}) {
        INFO(seed);
        const std::string saved = (dir() / "big_seed.json").string();
        fs::remove(saved);
        const Run r = run({"calibrate", "--log", log, "--split", "0.5", "--seed", seed, "--reference", "big", "--quiet",
                           "--save", saved});
        INFO(r.err);
        REQUIRE((r.code == 0 || r.code == 3));
        CHECK(cascade::load_calibration_file(saved).data.seed == std::stoull(seed));
    }
}

TEST_CASE("calibrate --save to a path it cannot write fails and names the path") {
    const std::string train = write("train2.csv", cascade_eval_tests::outcomes_csv(200, 2));
    const std::string bad = (dir() / "no-such-dir" / "calibration.json").string();
    const Run r = run({"calibrate", "--train", train, "--reference", "big", "--quiet", "--save", bad});
    CHECK(r.code != 0);
    CHECK(r.err.find(bad) != std::string::npos);
}
