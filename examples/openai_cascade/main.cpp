// SPDX-License-Identifier: MIT
// A cheap-first cascade over an OpenAI-compatible chat-completions endpoint: each question goes
// to the cheap model first; its answer is kept when the mean probability of its tokens reaches
// CASCADE_MIN_CONFIDENCE, otherwise the frontier model answers. Rate limits, server errors,
// timeouts and malformed responses are retried or escalated; every call is priced from its
// token counts.
//
//     export CASCADE_CHEAP_MODEL=gpt-4o-mini CASCADE_FRONTIER_MODEL=gpt-4o OPENAI_API_KEY=...
//     openai_cascade "What is the capital of France?"
//
// Run with --help for the settings.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/integration/chat_completion.hpp>
#include <cascade/runtime.hpp>
#include <cascade/verify.hpp>

#include "chat_client.hpp"
#include "config.hpp"

namespace {

constexpr const char* usage_text = R"(usage: openai_cascade [--json] [--file QUESTIONS] [QUESTION ...]

Answers each question (from the command line, and one per line from QUESTIONS, "-" for stdin)
with a cheap-first cascade over an OpenAI-compatible /chat/completions endpoint.

  --json   one JSON object per question, then a summary object, instead of text

Settings (environment):
  CASCADE_CHEAP_MODEL      the cheap model, tried first (required)
  CASCADE_FRONTIER_MODEL   the model that answers what the cheap one is unsure of (required)
  CASCADE_BASE_URL         the API's base, up to the version (default https://api.openai.com/v1)
  CASCADE_API_KEY          bearer token (default: OPENAI_API_KEY; none for local servers)
  CASCADE_CHEAP_PRICE      "input,output" dollars per million tokens (default 0,0)
  CASCADE_FRONTIER_PRICE   likewise for the frontier model
  CASCADE_MIN_CONFIDENCE   mean token probability the cheap answer needs (default 0.8)
  CASCADE_TIMEOUT_MS       time limit of one call (default 30000)
  CASCADE_ATTEMPTS         calls per model, retries included (default 3)
  CASCADE_RETRY_DELAY_MS   first wait before a retry, doubling after (default 500)
  CASCADE_MAX_TOKENS       max_tokens of each request (default 512)
  CASCADE_MAX_RESPONSE_BYTES  the largest response body kept; a longer one stops the call
                           (default 16777216, 16 MiB)
  CASCADE_HEDGE_AFTER_MS   start the frontier too when the cheap model has not answered by then
                           (default: no hedging)

Exit status: 0 when every question got an answer, 1 when some did not, 2 for bad usage or settings.
)";

struct Arguments {
    bool json = false;
    std::vector<std::string> questions;
};

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

void read_questions(const std::string& path, std::vector<std::string>& out) {
    std::ifstream file;
    if (path != "-") {
        file.open(path);
        if (!file) throw UsageError("cannot open the questions file " + path);
    }
    std::istream& in = path == "-" ? std::cin : file;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos) out.push_back(line);
    }
}

Arguments parse_arguments(int argc, char** argv) {
    Arguments args;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--json") {
            args.json = true;
        } else if (arg == "--file") {
            if (i + 1 >= argc) throw UsageError("--file needs a path");
            read_questions(argv[++i], args.questions);
        } else if (arg.rfind("--", 0) == 0) {
            throw UsageError("unknown option " + arg);
        } else {
            args.questions.push_back(arg);
        }
    }
    if (args.questions.empty()) throw UsageError("no question given");
    return args;
}

// Settled questions, for the closing summary.
struct Totals {
    int questions = 0;
    int by_cheap = 0;
    int by_frontier = 0;
    int unanswered = 0;
    std::size_t escalations = 0;
    std::size_t retries = 0;
    double cost = 0.0;
    double frontier_only = 0.0;  // what the frontier would have cost for the answered questions
};

std::string dollars(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "$%.6f", value);
    return text;
}

nlohmann::json attempts_json(const cascade::Trace& trace) {
    auto attempts = nlohmann::json::array();
    for (const cascade::Attempt& a : trace) {
        nlohmann::json item{{"tier", std::string(a.tier)}, {"status", std::string(cascade::to_string(a.status))},
                            {"cost", a.cost}};
        if (a.confidence) item["confidence"] = *a.confidence;
        if (!a.error.empty()) item["error"] = a.error;
        if (!a.note.empty()) item["note"] = a.note;
        attempts.push_back(std::move(item));
    }
    return attempts;
}

// The retries of the question being answered. With hedging the two tiers' retry wrappers report
// from two threads at once, hence the lock.
struct RetryLog {
    std::mutex mutex;
    std::vector<std::string> lines;

    void add(const cascade::Event& e) {
        std::lock_guard<std::mutex> lock(mutex);
        lines.push_back(std::string(e.source) + ": " + std::string(e.detail));
    }
    void clear() {
        std::lock_guard<std::mutex> lock(mutex);
        lines.clear();
    }
};

// Answers every question with `chain`, printing as it goes; a template because a hedged cheap
// tier makes a chain of another type.
template <class Chain>
Totals answer_all(Chain& chain, const Arguments& args, const openai_cascade::Config& config, RetryLog& retries) {
    Totals totals;
    for (const std::string& question : args.questions) {
        retries.clear();
        const auto result = chain.run(question);
        ++totals.questions;
        totals.cost += result.cost();
        totals.escalations += result.escalations();
        totals.retries += retries.lines.size();  // the calls have returned: no one writes to it now
        const bool answered = result.has_value();
        const bool by_cheap = answered && result.tier_index() == std::size_t{0};
        if (!answered) {
            ++totals.unanswered;
        } else if (by_cheap) {
            ++totals.by_cheap;
        } else {
            ++totals.by_frontier;
        }
        if (answered) {
            const auto& usage = result.value().usage;
            totals.frontier_only += by_cheap ? (usage ? config.frontier.prices.cost(*usage) : 0.0)
                                             : result.trace()[1].cost;
        }

        if (args.json) {
            nlohmann::json line{{"question", question},
                                {"answered", answered},
                                {"cost", result.cost()},
                                {"escalations", result.escalations()},
                                {"retries", retries.lines},
                                {"attempts", attempts_json(result.trace())}};
            if (answered) {
                line["answer"] = std::string(cascade::response_text(result.value()));
                line["tier"] = std::string(result.tier());
                line["model"] = result.value().model;
                line["confidence"] = result.confidence().value_or(0.0);
            }
            std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            continue;
        }
        std::cout << "[" << totals.questions << "] " << question << '\n';
        if (answered) {
            std::cout << "    " << cascade::response_text(result.value()) << '\n';
            char confidence[16];
            std::snprintf(confidence, sizeof confidence, "%.3f", result.confidence().value_or(0.0));
            std::cout << "    answered by " << result.tier() << " (" << result.value().model << "), confidence "
                      << confidence << ", cost " << dollars(result.cost()) << ", "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(result.latency()).count() << " ms\n";
        } else {
            std::cout << "    no answer: every tier failed\n";
        }
        if (!answered || result.escalations() > 0) {
            for (const cascade::Attempt& a : result.trace()) {
                if (a.called()) std::cout << "    " << a.describe() << '\n';
            }
        }
        for (const std::string& retry : retries.lines) std::cout << "    retried " << retry << '\n';
    }
    return totals;
}

// Everything after the settings: the cascade, the questions, the report. Its exit status.
int answer_questions(const Arguments& args, const openai_cascade::Config& config) {
    using namespace openai_cascade;
    CurlGlobal curl;
    RetryLog retries;
    const cascade::EventHook note_retry = [&retries](const cascade::Event& e) { retries.add(e); };
    // A timeout is not retried: the same model is likely to hang again, and the frontier waits.
    const auto retryable = [](const std::exception& e) {
        return dynamic_cast<const TimedOut*>(&e) == nullptr && dynamic_cast<const cascade::NotRetryable*>(&e) == nullptr;
    };
    // A Retry-After beyond the longest wait escalates at once rather than stall the question.
    const std::chrono::nanoseconds longest_wait =
        std::max<std::chrono::nanoseconds>(std::chrono::seconds(20), config.retry_delay);
    const cascade::RetryPolicy policy{config.attempts, config.retry_delay, longest_wait, 2.0, 0.2};
    auto cheap = cascade::with_retry(ChatClient(config.endpoint, config.cheap.model), policy, retryable)
                     .with_event_hook(note_retry, "cheap");
    auto frontier = cascade::with_retry(ChatClient(config.endpoint, config.frontier.model), policy, retryable)
                        .with_event_hook(note_retry, "frontier");

    // A cheap answer needs text, a natural end and confident tokens. The frontier's threshold is
    // 0: its answer is final (even an empty or cut one, which its confidence of 0 then shows).
    const auto check = [] {
        return cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::not_truncated(),
                                       cascade::verify::mean_token_prob());
    };
    auto cheap_tier = cascade::tier("cheap", std::move(cheap), check(), config.min_confidence,
                                    cascade::price_per_token(config.cheap.prices));
    auto frontier_tier =
        cascade::tier("frontier", std::move(frontier), check(), 0.0, cascade::price_per_token(config.frontier.prices));

    Totals totals;
    if (config.hedge_after) {
        // A slow cheap call gets company: the frontier starts too, the first good answer wins, and
        // the loser's HTTP transfer is aborted (chat_client.hpp checks cancel_requested()).
        cascade::Cascade chain{cascade::with_hedge_after(std::move(cheap_tier), *config.hedge_after),
                               std::move(frontier_tier)};
        totals = answer_all(chain, args, config, retries);
    } else {
        cascade::Cascade chain{std::move(cheap_tier), std::move(frontier_tier)};
        totals = answer_all(chain, args, config, retries);
    }

    if (args.json) {
        std::cout << nlohmann::json{{"summary",
                                     {{"questions", totals.questions},
                                      {"by_cheap", totals.by_cheap},
                                      {"by_frontier", totals.by_frontier},
                                      {"unanswered", totals.unanswered},
                                      {"escalations", totals.escalations},
                                      {"retries", totals.retries},
                                      {"cost", totals.cost},
                                      {"frontier_only_estimate", totals.frontier_only}}}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << '\n';
    } else {
        std::cout << '\n'
                  << totals.questions << " questions: " << totals.by_cheap << " answered by " << config.cheap.model
                  << ", " << totals.by_frontier << " by " << config.frontier.model << ", " << totals.unanswered
                  << " unanswered; " << totals.escalations << " escalations, " << totals.retries << " retries\n"
                  << "cost " << dollars(totals.cost) << "; the frontier alone, estimated from the same token counts: "
                  << dollars(totals.frontier_only);
        if (totals.frontier_only > 0.0) {
            std::cout << " (" << static_cast<int>(100.0 * (1.0 - totals.cost / totals.frontier_only) + 0.5) << "% saved)";
        }
        std::cout << '\n';
    }
    return totals.unanswered == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace openai_cascade;
    Arguments args;
    Config config;
    try {
        if (argc == 2 && std::string(argv[1]) == "--help") {
            std::cout << usage_text;
            return 0;
        }
        args = parse_arguments(argc, argv);
        config = config_from_environment();
    } catch (const UsageError& e) {
        std::cerr << "openai_cascade: " << e.what() << "\n\n" << usage_text;
        return 2;
    } catch (const ConfigError& e) {
        std::cerr << "openai_cascade: " << e.what() << " (see --help)\n";
        return 2;
    }

    try {
        return answer_questions(args, config);
    } catch (const std::exception& e) {  // e.g. libcurl cannot start: say so, do not abort
        std::cerr << "openai_cascade: " << e.what() << '\n';
        return 2;
    }
}
