// Tests for eval/calibration_file.hpp: a calibration saved, read back and run as a DynamicCascade
// over registered tiers; the data digest; and the loader's errors, each naming the file, the
// line and the field.
#include "catch.hpp"
#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"
#include "text_checks.hpp"

#include <cascade/cascade.hpp>
#include <cascade/detail/number.hpp>
#include <cascade/eval/calibrate.hpp>
#include <cascade/eval/calibration_file.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

// Queries of varying difficulty, models "small", "medium" and "big" (see skilled_outcomes).
std::string synthetic(std::size_t queries, std::uint64_t seed) {
    return cascade_test::skilled_outcomes(
        queries, cascade_test::Lcg(seed * 0x9E3779B97F4A7C15ull + 1), "query_id,model,quality,cost,confidence",
        "q" + std::to_string(seed) + "-", [](cascade_test::Lcg& random, int right, double p) {
            const double conf = std::round((0.45 * right + 0.25 * p + 0.3 * random.unit()) * 50.0) / 50.0;
            return "," + cascade::detail::format_number(conf);
        });
}

// A path of its own per process and name: the C++17 and C++20 builds run at the same time.
std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("cascade_test_calibration_file_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

// The ParseError's message when `text` is read as a calibration file named "cal.json".
std::string parse_error_of(const std::string& text) {
    try {
        (void)cascade::parse_calibration_file(text, "cal.json");
    } catch (const cascade::ParseError& e) {
        return e.what();
    }
    FAIL("expected cascade::ParseError for: " << text);
    return {};
}

// A question's difficulty decides what the registered tiers answer and how sure they are.
struct Question {
    double difficulty = 0.0;
};

cascade::TierRegistry<Question, std::string> registry_of_three() {
    cascade::TierRegistry<Question, std::string> r;
    auto sure_below = [](double level) {
        return [level](const Question& q, const std::string&) { return q.difficulty < level ? 0.9 : 0.2; };
    };
    r.add("small", [](const Question&) { return std::string("small"); }, sure_below(0.3),
          cascade::price_per_call(1e-4));
    r.add("medium", [](const Question&) { return std::string("medium"); }, sure_below(0.7),
          cascade::price_per_call(1e-3));
    r.add("big", [](const Question&) { return std::string("big"); }, cascade::price_per_call(1e-2));
    return r;
}

}  // namespace

TEST_CASE("a calibration saved to a file reads back the same and runs as the chain it names") {
    const std::string log = temp_path("train.csv");
    write_text(log, synthetic(2000, 7));
    const cascade::OutcomeTable train = table_of(synthetic(2000, 7));
    cascade::CalibrateOptions o;
    o.reference = "big";
    o.target = 0.9;
    o.mode = cascade::CalibrationMode::naive;
    const cascade::CalibrationResult result = cascade::calibrate(train, o);
    REQUIRE(result.chain.size() >= 2);

    const cascade::CalibrationFile saved = cascade::calibration_file_from(result, o, cascade::describe_data_file(log));
    const std::string path = temp_path("calibration.json");
    cascade::save_calibration_file(path, saved);
    const cascade::CalibrationFile back = cascade::load_calibration_file(path);
    std::remove(path.c_str());
    std::remove(log.c_str());

    CHECK(back.version == cascade::CalibrationFile::current_version);
    CHECK(back.chain == result.chain);
    CHECK(back.thresholds == result.thresholds);  // exactly: numbers are written to round-trip
    CHECK(back.reference == "big");
    CHECK(back.target == 0.9);
    CHECK_FALSE(back.budget);
    CHECK(back.mode == "naive");
    CHECK(back.guarantee == saved.guarantee);
    CHECK(back.guarantee_text == saved.guarantee_text);
    CHECK(back.bound == saved.bound);
    CHECK(back.target_met == result.target_met);
    CHECK(back.data.digest == saved.data.digest);
    CHECK(back.data.digest.rfind("fnv1a64:", 0) == 0);
    CHECK(back.data.digest.size() == 8 + 16);
    CHECK(back.data.bytes == synthetic(2000, 7).size());
    CHECK(back.data.source == log);
    REQUIRE(back.train);
    CHECK(back.train->queries == 2000);
    CHECK(back.train->cost == result.train.cost);
    CHECK(back.train->quality == result.train.quality);
    CHECK(back.train->saving == result.saving);
    CHECK(back.source == path);

    const auto registry = registry_of_three();
    auto c = cascade::configure_cascade(registry, back);
    CHECK(c.chain() == result.chain);
    const auto r = c.run(Question{0.1});
    REQUIRE(r.has_value());
    CHECK(*r == result.chain.front());
    REQUIRE(r.trace().size() == result.chain.size());
    for (std::size_t i = 0; i + 1 < result.chain.size(); ++i) {
        CHECK(r.trace()[i].tier == result.chain[i]);
        CHECK(r.trace()[i].threshold == result.thresholds[i]);
    }
}

TEST_CASE("the data digest is FNV-1a 64 of the file's bytes") {
    const std::string path = temp_path("digest.txt");
    write_text(path, "foobar");
    const cascade::CalibrationData d = cascade::describe_data_file(path);
    CHECK(d.digest == "fnv1a64:85944171f73967e8");  // the published test vector for "foobar"
    CHECK(d.bytes == 6);
    write_text(path, "");
    CHECK(cascade::describe_data_file(path).digest == "fnv1a64:cbf29ce484222325");  // the offset basis
    std::remove(path.c_str());
    CHECK_THROWS_WITH(cascade::describe_data_file(path), Catch::Matchers::ContainsSubstring(path));
}

TEST_CASE("a hand-written file with only version, chain and thresholds is enough") {
    const cascade::CalibrationFile f =
        cascade::parse_calibration_file(R"({"version": 1, "chain": ["small", "big"], "thresholds": [0.5],
                                            "added_later": {"x": 1}})");
    CHECK(f.chain == std::vector<std::string>{"small", "big"});
    CHECK(f.thresholds == std::vector<double>{0.5});
    CHECK_FALSE(f.train);
    CHECK(f.data.digest.empty());
}

TEST_CASE("the loader names the file, the line and the field of what is wrong") {
    CHECK(parse_error_of(R"({"chain": ["a"], "thresholds": []})") == "cal.json:1: field \"version\": missing");
    CHECK(parse_error_of("{\"version\": 2,\n \"chain\": [\"a\"], \"thresholds\": []}") ==
          "cal.json:1: field \"version\": unknown version 2; this library reads versions up to 1: update cascade "
          "to read this file");
    CHECK(contains(parse_error_of(R"({"version": 1.5, "chain": ["a"], "thresholds": []})"), "expected a whole number"));
    CHECK(parse_error_of("{\"version\": 1,\n \"chain\": \"a\", \"thresholds\": []}") ==
          "cal.json:2: field \"chain\": expected an array, got a string");
    CHECK(parse_error_of("{\"version\": 1, \"chain\": [\"a\", 3], \"thresholds\": [0.5]}") ==
          "cal.json:1: field \"chain\": expected a string, got a number");
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": [], "thresholds": []})"), "field \"chain\": the chain is empty"));
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a", "b"]})"), "field \"thresholds\": missing"));
    CHECK(parse_error_of("{\"version\": 1, \"chain\": [\"a\", \"b\"],\n\n \"thresholds\": [null]}") ==
          "cal.json:3: field \"thresholds\": expected a number, got null");
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a", "b"], "thresholds": [1e999]})"),
                   "field \"thresholds\": expected a finite number, got inf"));
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a", "b"], "thresholds": [0.1, 0.2]})"),
                   "a chain of 2 tiers takes 1 thresholds (one per tier but the last), got 2"));
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a"], "thresholds": [], "delta": "0.1"})"),
                   "field \"delta\": expected a number, got a string"));
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a"], "thresholds": [], "data": {"bytes": -1}})"),
                   "field \"data.bytes\": expected a whole number >= 0, got -1"));
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a"], "thresholds": [], "train": {"cost": true}})"),
                   "field \"train.cost\": expected a number, got a bool"));
    CHECK(contains(parse_error_of(R"({"format": "other", "version": 1, "chain": ["a"], "thresholds": []})"),
                   "field \"format\": expected \"cascade-calibration\", got \"other\""));
    CHECK(contains(parse_error_of(R"([1, 2])"), "cal.json:1: expected a JSON object, got an array"));
    CHECK(contains(parse_error_of("{\"version\": 1,\n NaN}"), "cal.json:2: not a calibration file: invalid JSON"));
    CHECK_THROWS_WITH(cascade::load_calibration_file(temp_path("absent.json")),
                      Catch::Matchers::ContainsSubstring("absent.json: cannot open"));
}

TEST_CASE("thresholds on a log-probability scale load, and run once mapped to the verifiers' scale") {
    const cascade::CalibrationFile f = cascade::parse_calibration_file(
        R"({"version": 1, "chain": ["small", "medium", "big"], "thresholds": [-0.5, -1.5]})", "logprob.json");
    CHECK(f.thresholds == std::vector<double>{-0.5, -1.5});
    const auto registry = registry_of_three();
    const std::string m = invalid_argument_message([&] { (void)cascade::configure_cascade(registry, f); });
    CHECK(contains(m, "logprob.json: cascade::DynamicCascade: threshold 1 (of tier \"small\") must be in [0, 1], got -0.5"));
    CHECK(contains(m, "e.g. std::exp for log-probabilities"));
    auto c = cascade::configure_cascade(registry, f, {}, [](double t) { return std::exp(t); });
    const auto r = c.run(Question{0.5});
    CHECK(r.trace()[0].threshold == std::exp(-0.5));
    CHECK(r.trace()[1].threshold == std::exp(-1.5));
    CHECK(*r == "medium");  // small's 0.2 is below exp(-0.5), medium's 0.9 above exp(-1.5)
}

TEST_CASE("configure_cascade names the file when the registry cannot run its chain") {
    cascade::CalibrationFile f = cascade::parse_calibration_file(
        R"({"version": 1, "chain": ["small", "gpt-x"], "thresholds": [0.5]})", "prod.json");
    const auto registry = registry_of_three();
    const std::string m = invalid_argument_message([&] { (void)cascade::configure_cascade(registry, f); });
    CHECK(m == "prod.json: cascade::DynamicCascade: unknown tier \"gpt-x\"; registered: \"small\", \"medium\", \"big\"");
}

TEST_CASE("an infinite threshold is saved as the string \"-inf\" or \"inf\" and loads back") {
    const double inf = std::numeric_limits<double>::infinity();
    // A log of log-probabilities where the first tier is sure (log-probability -inf) on queries
    // it answers right: the calibration accepts everything it answers, at the threshold -inf.
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (int i = 0; i < 400; ++i) {
        const std::string id = "q" + std::to_string(i);
        const bool abstains = i % 10 == 0;
        csv += id + ",small," + (abstains ? "0" : "1") + ",0.001," + (abstains ? "" : i % 2 == 1 ? "-inf" : "-0.5") + "\n";
        csv += id + ",big,1,0.01,\n";
    }
    cascade::CalibrateOptions o;
    o.reference = "big";
    o.target = 0.9;
    const cascade::CalibrationResult result = cascade::calibrate(table_of(csv), o);
    REQUIRE(result.chain == std::vector<std::string>{"small", "big"});
    REQUIRE(result.thresholds == std::vector<double>{-inf});

    cascade::CalibrationData data;
    data.source = "logprobs.csv";
    const std::string path = temp_path("infinite.json");
    cascade::save_calibration_file(path, cascade::calibration_file_from(result, o, data));
    const cascade::CalibrationFile back = cascade::load_calibration_file(path);
    std::remove(path.c_str());
    CHECK(back.thresholds == result.thresholds);

    cascade::CalibrationFile f;
    f.chain = {"small", "medium", "big"};
    f.thresholds = {-inf, inf};
    const std::string text = cascade::calibration_file_json(f);
    CHECK(contains(text, R"("thresholds": ["-inf","inf"])"));
    CHECK(cascade::parse_calibration_file(text).thresholds == f.thresholds);

    // Only those two spellings: NaN and other strings stay errors.
    const std::string prefix = R"({"version": 1, "chain": ["a", "b"], "thresholds": [)";
    for (const char* bad : {R"("nan")", R"("NaN")", R"("-Infinity")", R"("INF")", R"("+inf")", R"("0.5")", R"("")"}) {
        INFO(bad);
        CHECK(contains(parse_error_of(prefix + bad + "]}"),
                       std::string(R"(field "thresholds": expected a number, "-inf" or "inf", got )") + bad));
    }
    // Elsewhere a number is a number: an infinite target is not a calibration.
    CHECK(contains(parse_error_of(R"({"version": 1, "chain": ["a"], "thresholds": [], "target": "inf"})"),
                   "field \"target\": expected a number, got a string"));
}

TEST_CASE("configure_cascade runs an infinite threshold once mapped into [0, 1], and names it otherwise") {
    const auto registry = registry_of_three();
    const cascade::CalibrationFile f = cascade::parse_calibration_file(
        R"({"version": 1, "chain": ["small", "big"], "thresholds": ["-inf"]})", "sure.json");
    const std::string m = invalid_argument_message([&] { (void)cascade::configure_cascade(registry, f); });
    CHECK(contains(m, "sure.json: cascade::DynamicCascade: threshold 1 (of tier \"small\") must be in [0, 1], got -inf"));
    CHECK(contains(m, "e.g. std::exp for log-probabilities"));
    auto c = cascade::configure_cascade(registry, f, {}, [](double t) { return std::exp(t); });
    const auto r = c.run(Question{0.9});
    CHECK(r.trace()[0].threshold == 0.0);  // exp(-inf): the first tier accepts whatever it answers
    CHECK(*r == "small");

    const cascade::CalibrationFile never = cascade::parse_calibration_file(
        R"({"version": 1, "chain": ["small", "big"], "thresholds": ["inf"]})", "never.json");
    const std::string n = invalid_argument_message(
        [&] { (void)cascade::configure_cascade(registry, never, {}, [](double t) { return std::exp(t); }); });
    CHECK(contains(n, "never.json: cascade::DynamicCascade: threshold 1 (of tier \"small\") must be in [0, 1], got inf"));
}

TEST_CASE("a split seed of any 64-bit value is saved as a decimal string and loads back exactly") {
    cascade::CalibrationFile f;
    f.chain = {"small", "big"};
    f.thresholds = {0.5};
    f.data.split = 0.5;
    for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{9}, (std::uint64_t{1} << 53) + 1,
                                     std::numeric_limits<std::uint64_t>::max()}) {
        INFO(seed);
        f.data.seed = seed;
        const std::string text = cascade::calibration_file_json(f);
        CHECK(contains(text, "\"seed\":\"" + std::to_string(seed) + "\""));
        CHECK(cascade::parse_calibration_file(text).data.seed == seed);
    }
    // Files that wrote the seed as a number still load while it is exact as one (below 2^53).
    const std::string prefix = R"({"version": 1, "chain": ["a"], "thresholds": [], "data": {"seed": )";
    CHECK(cascade::parse_calibration_file(prefix + "9007199254740991}}").data.seed == 9007199254740991u);
    CHECK(contains(parse_error_of(prefix + "9007199254740993}}"),
                   "field \"data.seed\": a seed of 2^53 or more is not exact as a JSON number, got 9007199254740992; "
                   "write it as a decimal string"));
    CHECK(contains(parse_error_of(prefix + "1.5}}"), "field \"data.seed\": expected a whole number >= 0, got 1.5"));
    for (const char* bad : {R"("-1")", R"("+1")", R"(" 1")", R"("1e3")", R"("0x10")", R"("")", R"("18446744073709551616")"}) {
        INFO(bad);
        CHECK(contains(parse_error_of(prefix + bad + "}}"),
                       std::string(R"(field "data.seed": expected a whole number from 0 to 18446744073709551615 in decimal, got )") + bad));
    }
}

TEST_CASE("a directory given as a calibration file or a data file is an error naming it") {
    const std::string dir = temp_path("a_directory");
    std::filesystem::create_directory(dir);
    std::string load_error;
    try {
        (void)cascade::load_calibration_file(dir);
    } catch (const cascade::ParseError& e) {
        load_error = e.what();
    }
    std::string describe_error;
    try {
        (void)cascade::describe_data_file(dir);
    } catch (const cascade::ParseError& e) {
        describe_error = e.what();
    }
    std::filesystem::remove(dir);
    CHECK(load_error == dir + ": cannot read: Is a directory");
    CHECK(describe_error == dir + ": cannot read: Is a directory");
}
