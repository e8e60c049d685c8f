#include "catch.hpp"

#include <cascade/eval/calibrate.hpp>
#include <cascade/detail/json.hpp>
#include <cascade/eval/outcome_log.hpp>
#include <cascade/eval/replay.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "fixture.hpp"

namespace fs = std::filesystem;

using cascade::detail::JsonValue;
using cascade::detail::parse_json;

namespace {

struct Run {
    int code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

fs::path dir() {
    static const fs::path d = [] {
        fs::path p = fs::current_path() / "cascade_eval_fixtures";
        fs::create_directories(p);
        return p;
    }();
    return d;
}

fs::path write(const std::string& name, const std::string& text) {
    const fs::path p = dir() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::string quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs cascade-eval with `args` through the shell, capturing both streams.
Run run(const std::vector<std::string>& args) {
    std::string cmd = quote(CASCADE_EVAL_EXE);
    for (const std::string& a : args) cmd += " " + quote(a);
    const fs::path out = dir() / "stdout.txt";
    const fs::path err = dir() / "stderr.txt";
    cmd += " > " + quote(out.string()) + " 2> " + quote(err.string());
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

const JsonValue& at(const JsonValue& v, const char* key) {
    const JsonValue* x = v.find(key);
    if (!x) FAIL("no key " << key << " in " << v.dump());
    return *x;
}

const std::string train_csv = write("train.csv", cascade_eval_tests::outcomes_csv(600, 1)).string();
const std::string test_csv = write("test.csv", cascade_eval_tests::outcomes_csv(600, 2)).string();

}  // namespace

TEST_CASE("calibrate --json reports the chain and both sets, and agrees with the library") {
    const Run r = run({"calibrate", "--train", train_csv, "--test", test_csv, "--reference", "big", "--target", "0.95", "--json"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    std::vector<std::string> chain;
    for (const JsonValue& m : at(v, "chain").as_array()) chain.push_back(m.as_string());
    std::vector<double> thresholds;
    for (const JsonValue& t : at(v, "thresholds").as_array()) thresholds.push_back(t.as_number());
    REQUIRE(!chain.empty());
    CHECK(thresholds.size() + 1 == chain.size());
    CHECK(at(v, "mode").as_string() == "guarded");
    CHECK(at(v, "target_met").as_bool());
    for (const char* set : {"train", "test"}) {
        const JsonValue& s = at(v, set);
        const double saving = at(s, "saving").as_number();
        CHECK(saving >= 0.0);
        CHECK(saving <= 1.0);
        CHECK(at(s, "saving").as_number() == approx(1.0 - at(s, "cost").as_number() / at(s, "reference_cost").as_number()));
    }
    // The same replay through the library gives the same test figures.
    const cascade::OutcomeTable test(cascade::read_outcomes(test_csv));
    const auto replay = cascade::replay_cascade(test, chain, thresholds);
    CHECK(at(at(v, "test"), "quality").as_number() == replay.quality);
    CHECK(at(at(v, "test"), "cost").as_number() == replay.cost);
    CHECK(at(at(v, "test"), "reference_quality").as_number() == test.mean_quality(test.model_index("big")));
    // And the library's calibration on the same training log chose the same.
    cascade::CalibrateOptions o;
    o.reference = "big";
    const auto c = cascade::calibrate(cascade::OutcomeTable(cascade::read_outcomes(train_csv)), o);
    CHECK(c.chain == chain);
    CHECK(c.thresholds == thresholds);
}

TEST_CASE("calibrate prints a readable report without --json, and runs without --test") {
    const Run r = run({"calibrate", "--train", train_csv, "--reference", "big", "--naive", "--max-tiers", "2"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("chain:") != std::string::npos);
    CHECK(r.out.find("saving") != std::string::npos);
    CHECK(r.out.find("test") == std::string::npos);
    const Run j = run({"calibrate", "--train", train_csv, "--reference", "big", "--json", "--max-tiers", "1"});
    REQUIRE(j.code == 0);
    const JsonValue v = parse_json(j.out);
    CHECK(v.find("test") == nullptr);
    CHECK(at(v, "chain").as_array().size() == 1);
}

TEST_CASE("calibrate --log --split is reproducible for a seed") {
    const std::vector<std::string> args = {"calibrate", "--log", train_csv, "--split", "0.5", "--seed", "3", "--reference", "big", "--json"};
    const Run a = run(args);
    const Run b = run(args);
    REQUIRE(a.code == 0);
    CHECK(a.out == b.out);
    const JsonValue v = parse_json(a.out);
    CHECK(at(at(v, "train"), "queries").as_number() == 300);
    CHECK(at(at(v, "test"), "queries").as_number() == 300);
}

TEST_CASE("a budget picks the best quality within it") {
    const Run r = run({"calibrate", "--train", train_csv, "--reference", "big", "--budget", "0.005", "--json"});
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    CHECK(at(at(v, "train"), "cost").as_number() <= 0.005);
    CHECK(at(v, "target").is_null());
}

TEST_CASE("an unreachable target exits 3 and still reports") {
    const Run r = run({"calibrate", "--train", train_csv, "--reference", "big", "--models", "small,medium", "--target", "1", "--json"});
    CHECK(r.code == 3);
    CHECK(r.err.find("no setting met the target") != std::string::npos);
    CHECK_FALSE(at(parse_json(r.out), "target_met").as_bool());
}

TEST_CASE("curve --json gives the sweep, its frontier, the models and the oracle") {
    const Run r = run({"curve", "--log", train_csv, "--chain", "small,big", "--json"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    const auto& points = at(v, "points").as_array();
    const auto& frontier = at(v, "frontier").as_array();
    CHECK(points.size() > 100);
    CHECK(!frontier.empty());
    CHECK(frontier.size() <= points.size());
    for (std::size_t i = 1; i < frontier.size(); ++i) {
        CHECK(at(frontier[i], "cost").as_number() >= at(frontier[i - 1], "cost").as_number());
        CHECK(at(frontier[i], "quality").as_number() > at(frontier[i - 1], "quality").as_number());
    }
    CHECK(at(v, "models").as_array().size() == 3);
    CHECK(at(at(v, "oracle"), "quality").as_number() >= at(frontier.back(), "quality").as_number());
    CHECK(at(v, "aiq").is_number());
    const Run text = run({"curve", "--log", train_csv, "--chain", "small,medium,big"});
    REQUIRE(text.code == 0);
    CHECK(text.out.find("Pareto frontier") != std::string::npos);
}

TEST_CASE("--svg writes an SVG document with the plot's parts") {
    const std::string svg = (dir() / "plot.svg").string();
    const Run r = run({"calibrate", "--train", train_csv, "--test", test_csv, "--reference", "big", "--svg", svg});
    REQUIRE(r.code == 0);
    const std::string s = slurp(svg);
    CHECK(s.rfind("<?xml", 0) == 0);
    for (const char* part : {"id=\"frontier\"", "id=\"models\"", "id=\"oracle\"", "id=\"chosen\"", "id=\"legend\"", ">small<", ">big<",
                             "cost per query"}) {
        CHECK(s.find(part) != std::string::npos);
    }
    CHECK(s.find("</svg>") != std::string::npos);
}

TEST_CASE("split writes two logs that partition the queries") {
    const std::string a = (dir() / "a.csv").string();
    const std::string b = (dir() / "b.jsonl").string();
    const Run r = run({"split", "--log", train_csv, "--fraction", "0.25", "--seed", "9", "--train-out", a, "--test-out", b});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const cascade::OutcomeTable ta(cascade::read_outcomes(a));
    const cascade::OutcomeTable tb(cascade::read_outcomes(b));
    CHECK(ta.query_count() == 150);
    CHECK(tb.query_count() == 450);
    for (const auto& q : ta.queries()) {
        CHECK(std::find(tb.queries().begin(), tb.queries().end(), q) == tb.queries().end());
    }
    CHECK(ta.model_count() == 3);
    CHECK(tb.model_count() == 3);
}

TEST_CASE("malformed input stops with file, line and reason and exit code 1") {
    struct Case {
        std::string file;
        std::string text;
        std::string message;
    };
    const std::string h = "query_id,model,quality,cost,confidence\n";
    const std::vector<Case> cases = {
        {"no_cost.csv", "query_id,model,quality,confidence\nq,big,1,0\n", "no_cost.csv:1: the header has no column \"cost\""},
        {"bad_number.csv", h + "q1,big,1,0.1,0\nq1,small,1,cheap,0\n", "bad_number.csv:3: column \"cost\": \"cheap\" is not a number"},
        {"empty.csv", "", "empty.csv: the file is empty"},
        {"lacking.csv", h + "q1,big,1,0.1,\nq1,small,1,0.01,0\nq2,big,1,0.1,\n",
         "lacking.csv:4: query \"q2\" has no outcome for model \"small\""},
        {"quote.csv", h + "q1,big,1,0.1,\"0\n", "quote.csv:2: a quoted field is not closed"},
        {"dup.csv", h + "q1,big,1,0.1,\nq1,big,1,0.1,\n", "dup.csv:3: duplicate outcome"},
    };
    for (const Case& c : cases) {
        const std::string path = write(c.file, c.text).string();
        const Run r = run({"calibrate", "--train", path, "--reference", "big"});
        INFO(c.file << ": " << r.err);
        CHECK(r.code == 1);
        CHECK(r.err.find(c.message) != std::string::npos);
        CHECK(r.out.empty());
    }
    const Run missing = run({"curve", "--log", (dir() / "does_not_exist.csv").string(), "--chain", "a,b"});
    CHECK(missing.code == 1);
    CHECK(missing.err.find("does_not_exist.csv: cannot open") != std::string::npos);
}

TEST_CASE("command-line mistakes exit with 2 and say what is wrong") {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{}, "usage: cascade-eval"},
        {{"frobnicate"}, "unknown command \"frobnicate\""},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--colour"}, "unknown option --colour for 'calibrate'"},
        {{"calibrate", "--train"}, "option --train needs a value"},
        {{"calibrate", "--train", train_csv}, "'calibrate' needs --reference"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--target", "lots"}, "--target: \"lots\" is not a finite number"},
        {{"calibrate", "--train", train_csv, "--reference", "huge"}, "no model \"huge\""},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--models", "small,,big"}, "empty item"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--max-tiers", "0"}, "max_tiers"},
        {{"curve", "--log", train_csv}, "'curve' needs --chain"},
        {{"curve", "--log", train_csv, "--chain", "small,small"}, "appears twice"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--json", "--json"}, "given twice"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "stray"}, "unexpected argument \"stray\""},
    };
    for (const Case& c : cases) {
        const Run r = run(c.args);
        INFO(r.err);
        CHECK(r.code == 2);
        CHECK(r.err.find(c.message) != std::string::npos);
    }
    const Run help = run({"--help"});
    CHECK(help.code == 0);
    CHECK(help.out.find("calibrate") != std::string::npos);
}

namespace {

// Two models; the weak one fails exactly the queries whose text says "hard", so a text scorer
// can learn to route them.
void write_route_fixture(const std::string& outcomes, const std::string& queries, int n, int seed) {
    std::string o = "query_id,model,quality,cost\n";
    std::string q = "query_id,benchmark,system_prompt,user_prompt\n";
    std::uint64_t state = static_cast<std::uint64_t>(seed);
    for (int i = 0; i < n; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const bool hard = (state >> 40) % 3 == 0;
        const std::string id = "r" + std::to_string(seed) + "-" + std::to_string(i);
        o += id + ",weak," + (hard ? "0" : "1") + ",0.001\n";
        o += id + ",strong,1,0.01\n";
        q += id + ",demo,\"Answer briefly, please.\",\"" + (hard ? "A hard, tricky proof about primes number " : "An easy question about apples number ") +
             std::to_string(i % 17) + "?\"\n";
    }
    write(outcomes, o);
    write(queries, q);
}

}  // namespace

TEST_CASE("route trains the text scorer and reports APGR and CPT on the test log") {
    write_route_fixture("route_train.csv", "route_train_queries.csv", 300, 1);
    write_route_fixture("route_test.csv", "route_test_queries.csv", 200, 2);
    const std::string svg = (dir() / "route.svg").string();
    const Run r = run({"route", "--train", (dir() / "route_train.csv").string(), "--train-queries",
                       (dir() / "route_train_queries.csv").string(), "--test", (dir() / "route_test.csv").string(),
                       "--test-queries", (dir() / "route_test_queries.csv").string(), "--weak", "weak", "--strong", "strong",
                       "--json", "--svg", svg});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    // The texts give the answer away: far better than the random router's 0.5.
    CHECK(at(v, "apgr").as_number() > 0.8);
    CHECK(at(v, "cpt50").as_number() < 0.4);
    CHECK(at(v, "cpt80").as_number() <= 1.0);
    CHECK(at(v, "cpt50").as_number() <= at(v, "cpt80").as_number());
    CHECK(slurp(svg).find("id=\"frontier\"") != std::string::npos);

    // A query without text is named.
    write("route_short_queries.csv", "query_id,user_prompt\nr2-0,hello\n");
    const Run bad = run({"route", "--train", (dir() / "route_train.csv").string(), "--train-queries",
                         (dir() / "route_train_queries.csv").string(), "--test", (dir() / "route_test.csv").string(),
                         "--test-queries", (dir() / "route_short_queries.csv").string(), "--weak", "weak", "--strong", "strong"});
    CHECK(bad.code == 1);
    CHECK(bad.err.find("route_test.csv:4: query \"r2-1\" has no text in") != std::string::npos);
    const Run same = run({"route", "--train", "x", "--train-queries", "y", "--test", "z", "--test-queries", "w", "--weak", "a",
                          "--strong", "a"});
    CHECK(same.code == 2);
}
