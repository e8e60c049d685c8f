// cascade-eval: what a cascade saves on logged traffic, and the thresholds that hold a quality
// target. See docs/eval.md.
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <cascade/detail/json.hpp>
#include <cascade/core/parse_error.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace cascade_eval {

const char* usage() {
    return "usage: cascade-eval <command> [options]\n"
           "\n"
           "commands:\n"
           "  calibrate  choose a cascade (models and thresholds) on a training log\n"
           "      --train TRAIN.csv [--test TEST.csv] | --log LOG.csv [--split 0.5] [--seed 1]\n"
           "      --reference MODEL [--target 0.95] [--budget DOLLARS] [--models m1,m2,...]\n"
           "      [--max-tiers 3] [--max-chains 10000] [--mode family_wise|per_setting|naive] [--bound betting|bernstein|kl] [--delta 0.1] [--selection F] [--max-candidates N] [--svg FILE]\n"
           "      [--save calibration.json] [--shift-alpha 0.01] [--json] [--quiet]\n"
           "  curve      the cost/quality curve of one chain as its thresholds sweep\n"
           "      --log LOG.csv --chain m1,m2[,...] [--max-points 2000] [--svg FILE] [--json] [--quiet]\n"
           "  route      train the text scorer as a router and report APGR and CPT\n"
           "      --train TRAIN.csv --train-queries Q.csv --test TEST.csv --test-queries Q.csv\n"
           "      --weak MODEL --strong MODEL [--seed 1] [--svg FILE] [--json] [--quiet]\n"
           "      [--target 0.95 [--delta 0.1] [--bound betting|bernstein|kl] [--selection F]]: also choose\n"
           "      the threshold on the test log that keeps the target with risk delta\n"
           "  monitor    replay a log as live traffic through fixed thresholds with a quality monitor\n"
           "      --log STREAM.csv (--calibration FILE | --chain m1,m2[,...] --thresholds t1[,...])\n"
           "      [--reference MODEL] [--target 0.95] [--label-rate 0.1] [--suspect-label-rate R] [--window 200]\n"
           "      [--alpha 0.001] [--act [--act-on-suspicion]] [--seed 1] [--json] [--quiet]: labels a share of\n"
           "      the queries answered below the reference (R of a tier's while its detector holds evidence\n"
           "      against it), alarms when a tier falls below the target, and with --act rejects its answers\n"
           "      (from its alarm, or with --act-on-suspicion also while it is a suspect)\n"
           "  stream     early-exit rules on logged token streams, against waiting for the whole answer\n"
           "      --log LOG.jsonl [--traces TRACES.jsonl] --chain m1,m2[,...] --thresholds t1[,...]\n"
           "      --rule mean:T:N|min:T:N|quantile:Q:T:N|tokens:N [--rule ...] [--tokens-per-second X]\n"
           "      [--output-price-ratio r[,...]] [--reference MODEL] [--good-quality 0.5] [--json] [--quiet]:\n"
           "      a CSV log needs --traces, lines of {\"query_id\", \"model\", \"token_logprobs\": [...]}\n"
           "  split      split a log in two by query id, reproducibly\n"
           "      --log LOG.csv [--fraction 0.5] [--seed 1] --train-out A.csv --test-out B.csv\n"
           "      (a .jsonl output needs ids in UTF-8; .csv keeps any bytes)\n"
           "\n"
           "every command also takes [--max-line-bytes 1048576] [--max-models-per-query 1000]\n"
           "[--max-table-cells 67108864]: the longest line (CSV record), the most models per query and the\n"
           "largest queries x models table a log may have.\n"
           "\n"
           "Logs are CSV (query_id,model,quality,cost[,confidence,benchmark,...]) or JSON Lines (.jsonl).\n"
           "Exit codes: 0 ok, 1 malformed or unreadable input, 2 bad command line, 3 target not met.\n";
}

}  // namespace cascade_eval

int main(int argc, char** argv) {
    using namespace cascade_eval;
    std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty()) {
        std::cerr << usage();
        return exit_usage;
    }
    const std::string command = words.front();
    words.erase(words.begin());
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << usage();
        return exit_ok;
    }
    try {
        if (command == "calibrate") return run_calibrate(words);
        if (command == "curve") return run_curve(words);
        if (command == "route") return run_route(words);
        if (command == "split") return run_split(words);
        if (command == "monitor") return run_monitor(words);
        if (command == "stream") return run_stream(words);
        throw UsageError("unknown command \"" + command + "\"");
    } catch (const UsageError& e) {
        std::cerr << "cascade-eval: " << e.what() << "\n(run cascade-eval --help for the options)\n";
        return exit_usage;
    } catch (const cascade::ParseError& e) {
        std::cerr << "cascade-eval: " << e.what() << "\n";
        return exit_bad_input;
    } catch (const cascade::detail::JsonError& e) {
        std::cerr << "cascade-eval: " << e.what() << "\n";
        return exit_bad_input;
    } catch (const std::invalid_argument& e) {
        std::cerr << "cascade-eval: " << e.what() << "\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "cascade-eval: " << e.what() << "\n";
        return exit_bad_input;
    }
}
