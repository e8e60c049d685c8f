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
#include <sys/stat.h>  // mkfifo
#include <sys/wait.h>
#include <vector>

#include "fixture.hpp"
#include "tool_run.hpp"

namespace fs = std::filesystem;

using cascade::detail::JsonValue;
using cascade::detail::parse_json;
using namespace cascade_eval_tests;  // run, write, dir, at: the tool's test kit

namespace {

const std::string train_csv = write("train.csv", cascade_eval_tests::outcomes_csv(600, 1)).string();
const std::string test_csv = write("test.csv", cascade_eval_tests::outcomes_csv(600, 2)).string();

}  // namespace

TEST_CASE("calibrate prints which guarantee holds at what delta, for each mode and bound") {
    const Run fw = run({"calibrate", "--train", train_csv, "--reference", "big", "--bound", "kl", "--delta", "0.05"});
    INFO(fw.err);
    REQUIRE(fw.code == 0);
    CHECK(fw.out.find("(family_wise, kl bound, delta 0.05)") != std::string::npos);
    CHECK(fw.out.find("guarantee: family-wise: with probability >= 0.95") != std::string::npos);
    const Run ps = run({"calibrate", "--train", train_csv, "--reference", "big", "--mode", "per_setting", "--json"});
    REQUIRE(ps.code == 0);
    const JsonValue v = parse_json(ps.out);
    CHECK(at(v, "guarantee").as_string() == "per_setting");
    CHECK(at(v, "test_queries").as_number() == 600);
    const Run nv = run({"calibrate", "--train", train_csv, "--reference", "big", "--mode", "naive"});
    REQUIRE(nv.code == 0);
    CHECK(nv.out.find("guarantee: none") != std::string::npos);
}

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
    CHECK(at(v, "mode").as_string() == "family_wise");
    CHECK(at(v, "guarantee").as_string() == "family_wise");
    CHECK(at(v, "guarantee_text").as_string().find("family-wise: with probability >= 0.9") == 0);
    CHECK(at(v, "bound").as_string() == "betting");
    CHECK(at(v, "selection_queries").as_number() == 300);
    CHECK(at(v, "test_queries").as_number() == 300);
    CHECK(at(v, "settings_tested").as_number() >= 1);
    CHECK(at(v, "loss_bound").as_number() <= at(v, "allowed_loss").as_number());
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
        {{"calibrate", "--train", train_csv, "--reference", "big", "--mode", "guarded"}, "got guarded (the former guarded mode is per_setting)"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--bound", "hoeffding"}, "option --bound: betting, bernstein or kl"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--delta", "1"}, "option --delta"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--delta", "0"}, "option --delta"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--selection", "1.5"}, "option --selection"},
        {{"calibrate", "--train", train_csv, "--reference", "big", "--naive", "--mode", "per_setting"}, "contradict"},
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

TEST_CASE("route --target chooses the router's threshold with the family-wise guarantee") {
    write_route_fixture("route_train.csv", "route_train_queries.csv", 300, 1);
    write_route_fixture("route_test.csv", "route_test_queries.csv", 400, 2);
    const std::vector<std::string> base = {"route", "--train", (dir() / "route_train.csv").string(), "--train-queries",
                                           (dir() / "route_train_queries.csv").string(), "--test",
                                           (dir() / "route_test.csv").string(), "--test-queries",
                                           (dir() / "route_test_queries.csv").string(), "--weak", "weak", "--strong", "strong"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> words = base;
        words.insert(words.end(), extra.begin(), extra.end());
        return run(words);
    };
    const Run r = with({"--target", "0.95", "--delta", "0.1", "--bound", "betting", "--json"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const JsonValue v = parse_json(r.out);
    const JsonValue& c = at(v, "calibration");
    CHECK(at(c, "guarantee").as_string() == "family_wise");
    CHECK(at(c, "guarantee_text").as_string().find("family-wise") != std::string::npos);
    CHECK(at(c, "bound").as_string() == "betting");
    CHECK(at(c, "delta").as_number() == 0.1);
    CHECK(at(c, "target").as_number() == 0.95);
    CHECK(at(c, "selection_queries").as_number() + at(c, "test_queries").as_number() == 400);
    CHECK(at(c, "target_met").as_bool());
    CHECK(at(c, "loss_bound").as_number() <= at(c, "allowed_loss").as_number());
    // The scorer separates the texts: the easy two thirds can go to the weak model.
    CHECK(at(c, "threshold").as_number() > 0.0);
    CHECK(at(c, "strong_share").as_number() < 0.6);
    CHECK(at(c, "saving").as_number() > 0.3);
    CHECK(at(c, "quality").as_number() >= 0.95);

    const Run text = with({"--target", "0.95", "--bound", "kl"});
    INFO(text.err);
    REQUIRE(text.code == 0);
    CHECK(text.out.find("threshold:   queries scoring >= ") != std::string::npos);
    CHECK(text.out.find("(family_wise, kl bound, delta 0.1): met") != std::string::npos);
    CHECK(text.out.find("guarantee: family-wise") != std::string::npos);

    // Without --target, no calibration.
    const Run plain = with({"--json"});
    REQUIRE(plain.code == 0);
    CHECK(plain.out.find("\"calibration\"") == std::string::npos);

    const struct {
        std::vector<std::string> extra;
        const char* message;
    } bad[] = {
        {{"--target", "1.5"}, "option --target: a fraction of the strong model's quality in (0, 1]"},
        {{"--target", "0"}, "option --target"},
        {{"--target", "0.95", "--delta", "1"}, "option --delta: the risk, a probability in (0, 1)"},
        {{"--target", "0.95", "--bound", "hoeffding"}, "option --bound: betting, bernstein or kl; got hoeffding"},
        {{"--target", "0.95", "--selection", "1"}, "option --selection"},
        {{"--delta", "0.1"}, "--delta goes with --target"},
        {{"--bound", "kl"}, "--bound goes with --target"},
    };
    for (const auto& b : bad) {
        const Run e = with(b.extra);
        INFO(b.message);
        CHECK(e.code == 2);
        CHECK(e.err.find(b.message) != std::string::npos);
    }
}

namespace {

std::vector<std::string> column_of(const cascade::OutcomeLog& log, bool ids) {
    std::vector<std::string> out;
    for (const auto& o : log.rows) out.push_back(ids ? o.query_id : o.model);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("input that cannot be read is an error with the file's name, never a shorter log") {
    // A directory opens but cannot be read.
    const Run d = run({"calibrate", "--train", dir().string(), "--reference", "big"});
    CHECK(d.code == 1);
    CHECK(d.err.find(dir().string() + ": cannot read") != std::string::npos);
    CHECK(d.err.find("empty") == std::string::npos);

    // A pipe with two good lines, then one line with no end: the limit stops it, naming the line.
    const fs::path fifo = dir() / "pipe.jsonl";
    fs::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string good =
        "{\"query_id\":\"q1\",\"model\":\"big\",\"quality\":1,\"cost\":0.1}\n"
        "{\"query_id\":\"q2\",\"model\":\"big\",\"quality\":1,\"cost\":0.1}\n";
    const std::string feeder =
        "(printf '%s' " + quote(good) + "; head -c 3000000 /dev/zero) > " + quote(fifo.string()) + " 2>/dev/null &";
    REQUIRE(std::system(feeder.c_str()) == 0);
    const Run p = run({"calibrate", "--train", fifo.string(), "--reference", "big"});
    CHECK(p.code == 1);
    CHECK(p.err.find("pipe.jsonl:3: the line is longer than the limit of 1048576 bytes") != std::string::npos);
    CHECK(p.out.empty());
    fs::remove(fifo);

    // An endless file: refused at the limit, not by running out of memory.
    const Run z = run({"calibrate", "--train", "/dev/zero", "--reference", "big"});
    CHECK(z.code == 1);
    CHECK(z.err.find("/dev/zero:1: the record is longer than the limit of 1048576 bytes") != std::string::npos);
}

TEST_CASE("--max-line-bytes and --max-models-per-query set the readers' limits") {
    const std::string path = write("wide_row.csv", "query_id,model,quality,cost\nq1,big,1,0.1\n" +
                                                       std::string(80, 'q') + ",big,1,0.1\nq1,small,1,0.01\n")
                                 .string();
    const Run r = run({"curve", "--log", path, "--chain", "small,big", "--max-line-bytes", "64"});
    CHECK(r.code == 1);
    CHECK(r.err.find("wide_row.csv:3: the record is longer than the limit of 64 bytes") != std::string::npos);
    CHECK(run({"curve", "--log", path, "--chain", "small,big", "--max-line-bytes", "100"}).err.find("limit") ==
          std::string::npos);

    const Run m = run({"calibrate", "--train", train_csv, "--reference", "big", "--max-models-per-query", "2"});
    CHECK(m.code == 1);
    CHECK(m.err.find("train.csv:4: query \"q0\" has outcomes for more than 2 models") != std::string::npos);
    CHECK(run({"split", "--log", train_csv, "--train-out", "x.csv", "--test-out", "y.csv", "--max-line-bytes", "0"})
              .code == 2);

    const Run t = run({"curve", "--log", train_csv, "--chain", "small,big", "--max-table-cells", "1799"});
    CHECK(t.code == 1);
    CHECK(t.err.find("train.csv: 600 queries x 3 models make a table of more than 1799 cells") != std::string::npos);
    CHECK(run({"curve", "--log", train_csv, "--chain", "small,big", "--max-table-cells", "1800"}).code == 0);
}

TEST_CASE("a log whose chains outnumber --max-chains is refused before the search, saying what to do") {
    std::string text = "query_id,model,quality,cost,confidence\n";
    for (const char* q : {"q1", "q2"}) {
        for (int m = 0; m < 60; ++m) {
            text += std::string(q) + ",m" + std::to_string(m) + ",1," + std::to_string(m + 1) + ",0.5\n";
        }
    }
    const std::string path = write("wide.csv", text).string();
    const Run r = run({"calibrate", "--train", path, "--reference", "m59"});
    CHECK(r.code == 2);
    CHECK(r.err.find("chains of 1 to 3 of 60 models number 36050, more than max_chains (10000)") != std::string::npos);
    CHECK(r.err.find("--max-chains") != std::string::npos);
    const Run named = run({"calibrate", "--train", path, "--reference", "m59", "--models", "m0,m1,m59", "--json"});
    INFO(named.err);
    CHECK(named.code == 0);
    CHECK(at(parse_json(named.out), "chains_searched").as_number() == 7);
    const Run raised =
        run({"calibrate", "--train", path, "--reference", "m59", "--max-tiers", "2", "--max-chains", "1830", "--json"});
    INFO(raised.err);
    CHECK(raised.code == 0);
    CHECK(at(parse_json(raised.out), "chains_searched").as_number() == 1830);
}

TEST_CASE("costs that add up past what a sum can hold are refused, never printed as inf or nan") {
    const std::string path =
        write("huge_costs.csv",
              "query_id,model,quality,cost\nq1,big,1,9e299\nq2,big,1,9e299\nq1,small,1,1\nq2,small,0,1\n")
            .string();
    const Run r = run({"calibrate", "--train", path, "--reference", "big"});
    CHECK(r.code == 1);
    CHECK(r.err.find("huge_costs.csv:3: the costs add up to more than 1e+300 dollars") != std::string::npos);
    for (const std::string& text : {r.out, r.err}) {
        CHECK(text.find("inf") == std::string::npos);
        CHECK(text.find("nan") == std::string::npos);
    }

    // Just under the limit every figure is finite, and prices too large for digits print in full.
    const std::string near = write("near_limit.csv",
                                   "query_id,model,quality,cost,confidence\nq1,big,1,3e299,\nq2,big,1,3e299,\n"
                                   "q1,small,1,2e299,0.9\nq2,small,0,1e299,0.1\n")
                                 .string();
    const Run ok = run({"calibrate", "--train", near, "--reference", "big", "--naive", "--target", "0.5"});
    INFO(ok.err);
    CHECK(ok.code == 0);
    CHECK(ok.out.find("$1.5e+299") != std::string::npos);
    CHECK(ok.out.find("$3e+299") != std::string::npos);
    CHECK(ok.out.find("50.0%") != std::string::npos);
    CHECK(ok.out.find("inf") == std::string::npos);
    CHECK(ok.out.find("nan") == std::string::npos);
}

TEST_CASE("split refuses ids JSON Lines cannot hold, and what it writes reads back the same") {
    std::string text = "query_id,model,quality,cost\n";
    for (int i = 0; i < 20; ++i) {
        // Ids that differ only in a byte that is not UTF-8: escaping it lossily would merge them.
        const std::string id = "id-" + std::to_string(i % 10) + (i < 10 ? "\xff" : "\xfe");
        text += id + ",big,1,0.1\n" + id + ",small," + (i % 2 ? "1" : "0") + ",0.01\n";
    }
    const std::string log = write("latin1.csv", text).string();
    const std::string a_jsonl = (dir() / "latin1_a.jsonl").string();
    const std::string b_jsonl = (dir() / "latin1_b.jsonl").string();
    fs::remove(a_jsonl);
    const Run j = run({"split", "--log", log, "--train-out", a_jsonl, "--test-out", b_jsonl});
    CHECK(j.code == 1);
    CHECK(j.err.find("latin1.csv:2: query_id \"id-0?\" is not valid UTF-8 (byte 5 is 0xff)") != std::string::npos);
    CHECK_FALSE(fs::exists(a_jsonl));

    // CSV keeps any bytes: the two parts hold exactly the original rows.
    const std::string a_csv = (dir() / "latin1_a.csv").string();
    const std::string b_csv = (dir() / "latin1_b.csv").string();
    const Run c = run({"split", "--log", log, "--train-out", a_csv, "--test-out", b_csv});
    INFO(c.err);
    REQUIRE(c.code == 0);
    cascade::OutcomeLog both = cascade::read_outcomes(a_csv);
    const cascade::OutcomeLog b = cascade::read_outcomes(b_csv);
    both.rows.insert(both.rows.end(), b.rows.begin(), b.rows.end());
    const cascade::OutcomeLog original = cascade::read_outcomes(log);
    CHECK(column_of(both, true) == column_of(original, true));
    CHECK(column_of(both, false) == column_of(original, false));

    // Valid UTF-8, quotes and control characters survive JSON Lines.
    std::string unicode = "query_id,model,quality,cost\n";
    for (int i = 0; i < 10; ++i) {
        const std::string id = "\"caf\xc3\xa9 \xf0\x9f\x98\x80 \"\"" + std::to_string(i) + "\"\"\tx\"";
        unicode += id + ",big,1,0.1\n" + id + ",sm\xc3\xa5ll,1,0.01\n";
    }
    const std::string ulog = write("unicode.csv", unicode).string();
    const Run u = run({"split", "--log", ulog, "--train-out", a_jsonl, "--test-out", b_jsonl});
    INFO(u.err);
    REQUIRE(u.code == 0);
    cascade::OutcomeLog parts = cascade::read_outcomes(a_jsonl);
    const cascade::OutcomeLog rest = cascade::read_outcomes(b_jsonl);
    parts.rows.insert(parts.rows.end(), rest.rows.begin(), rest.rows.end());
    const cascade::OutcomeLog uorig = cascade::read_outcomes(ulog);
    CHECK(column_of(parts, true) == column_of(uorig, true));
    CHECK(column_of(parts, false) == column_of(uorig, false));
}

TEST_CASE("a test log lacking the reference or a chain model is bad data: exit 1, naming the file") {
    std::string no_big;
    std::string no_small;
    {
        std::istringstream lines(cascade_eval_tests::outcomes_csv(200, 4));
        std::string line;
        while (std::getline(lines, line)) {
            if (line.find(",big,") == std::string::npos) no_big += line + "\n";
            if (line.find(",small,") == std::string::npos) no_small += line + "\n";
        }
    }
    const std::string test_no_big = write("test_no_big.csv", no_big).string();
    const std::string test_no_small = write("test_no_small.csv", no_small).string();
    const Run r = run({"calibrate", "--train", train_csv, "--test", test_no_big, "--reference", "big"});
    CHECK(r.code == 1);
    CHECK(r.err.find("test_no_big.csv: no outcomes for model \"big\" (the reference)") != std::string::npos);
    const Run c = run({"calibrate", "--train", train_csv, "--test", test_no_small, "--reference", "big", "--models",
                       "small", "--max-tiers", "1"});
    CHECK(c.code == 1);
    CHECK(c.err.find("test_no_small.csv: no outcomes for model \"small\" (in the chain)") != std::string::npos);
}

TEST_CASE("--seed takes any 64-bit number, --target only a fraction in (0, 1]") {
    for (const char* seed : {"1234567890123", "18446744073709551615"}) {
        const Run r =
            run({"calibrate", "--log", train_csv, "--seed", seed, "--reference", "big", "--max-tiers", "1", "--json"});
        INFO(seed << ": " << r.err);
        CHECK(r.code == 0);
    }
    const Run split_seed = run({"split", "--log", train_csv, "--seed", "1234567890123", "--train-out",
                                (dir() / "s_a.csv").string(), "--test-out", (dir() / "s_b.csv").string()});
    CHECK(split_seed.code == 0);
    const Run over = run({"calibrate", "--log", train_csv, "--seed", "18446744073709551616", "--reference", "big"});
    CHECK(over.code == 2);
    CHECK(over.err.find("--seed: 18446744073709551616 is larger than 18446744073709551615") != std::string::npos);
    for (const char* target : {"1.2", "0", "-0.5", "1.0000001"}) {
        const Run r = run({"calibrate", "--train", train_csv, "--reference", "big", "--target", target});
        INFO(target);
        CHECK(r.code == 2);
        CHECK(r.err.find("option --target: a fraction of the reference's quality in (0, 1]") != std::string::npos);
    }
    CHECK(run({"calibrate", "--train", train_csv, "--reference", "big", "--target", "1", "--max-tiers", "1"}).code !=
          2);
}
