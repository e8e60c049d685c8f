// SPDX-License-Identifier: MIT
// A cheap-first cascade over an OpenAI-compatible chat-completions endpoint: each question goes
// to the cheap model first; its answer is kept when the mean probability of its tokens reaches
// CASCADE_MIN_CONFIDENCE, otherwise the frontier model answers. Rate limits, server errors,
// timeouts and malformed responses are retried or escalated; every call is priced from its
// token counts. With --stream the answers stream: tokens are printed as they come, and the cheap
// model's stream is stopped mid-answer when a token's probability drops or it starts to refuse.
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
#include <optional>
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

constexpr const char* usage_text = R"(usage: openai_cascade [--json] [--stream | --pass-through] [--file QUESTIONS] [QUESTION ...]

Answers each question (from the command line, and one per line from QUESTIONS, "-" for stdin)
with a cheap-first cascade over an OpenAI-compatible /chat/completions endpoint.

  --json          one JSON object per question, then a summary object, instead of text
  --stream        stream the answers ("stream": true): the cheap model's stream is stopped as soon
                  as a token's probability falls below CASCADE_STREAM_MIN_PROB or it opens with a
                  refusal, and the answer is printed once it is accepted
  --pass-through  as --stream, but tokens are printed as they come; when the cheap answer is
                  stopped or rejected, what was printed is taken back and the frontier's follows

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
  CASCADE_STREAM_MIN_PROB  with --stream: stop the cheap stream at a token less likely than this
                           (default 0.25)
  CASCADE_STALL_MS         with --stream: stop the cheap stream when no token came for this long
                           (default 5000)

Exit status: 0 when every question got an answer, 1 when some did not, 2 for bad usage or settings.
)";

struct Arguments {
    bool json = false;
    std::optional<cascade::StreamMode> stream;  // empty: answers come whole
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
        } else if (arg == "--stream" || arg == "--pass-through") {
            const auto mode = arg == "--stream" ? cascade::StreamMode::buffered : cascade::StreamMode::pass_through;
            if (args.stream && *args.stream != mode) throw UsageError("--stream and --pass-through exclude each other");
            args.stream = mode;
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

double milliseconds(std::chrono::nanoseconds t) { return std::chrono::duration<double, std::milli>(t).count(); }

// Prints a streamed answer as its tokens come: a take-back (pass-through mode) is shown as a note
// and a fresh line, as a terminal cannot unprint.
struct StreamPrinter {
    bool quiet = false;  // --json: nothing printed
    bool started = false;

    void operator()(const cascade::StreamEvent& e) {
        if (quiet) return;
        if (!started) {
            std::cout << "    ";
            started = true;
        }
        if (e.kind == cascade::StreamEventKind::token) {
            std::cout << e.chunk.text << std::flush;
        } else {
            std::cout << "  [taken back: " << e.discarded_tokens << " tokens of " << e.tier << "]\n    " << std::flush;
        }
    }
};

nlohmann::json attempts_json(const cascade::Trace& trace) {
    auto attempts = nlohmann::json::array();
    for (const cascade::Attempt& a : trace) {
        nlohmann::json item{{"tier", std::string(a.tier)}, {"status", std::string(cascade::to_string(a.status))},
                            {"cost", a.cost}};
        if (a.confidence) item["confidence"] = *a.confidence;
        if (!a.error.empty()) item["error"] = a.error;
        if (!a.note.empty()) item["note"] = a.note;
        if (a.stream.streamed) {
            nlohmann::json stream{{"tokens", a.stream.tokens}};
            if (a.stream.first_token) stream["first_token_ms"] = milliseconds(*a.stream.first_token);
            if (a.stream.stopped_at_token) stream["stopped_at_token"] = *a.stream.stopped_at_token;
            item["stream"] = std::move(stream);
        }
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
        if (args.stream && !args.json) std::cout << "[" << totals.questions + 1 << "] " << question << '\n';
        StreamPrinter printer{args.json};
        const auto result = args.stream ? chain.stream(question, [&printer](const cascade::StreamEvent& e) { printer(e); },
                                                       *args.stream)
                                        : chain.run(question);
        if (printer.started) std::cout << '\n';
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
            if (result.first_token_latency()) line["first_token_ms"] = milliseconds(*result.first_token_latency());
            if (answered) {
                line["answer"] = std::string(cascade::response_text(result.value()));
                line["tier"] = std::string(result.tier());
                line["model"] = result.value().model;
                line["confidence"] = result.confidence().value_or(0.0);
            }
            std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            continue;
        }
        if (!args.stream) std::cout << "[" << totals.questions << "] " << question << '\n';
        if (answered) {
            if (!args.stream) std::cout << "    " << cascade::response_text(result.value()) << '\n';
            char confidence[16];
            std::snprintf(confidence, sizeof confidence, "%.3f", result.confidence().value_or(0.0));
            std::cout << "    answered by " << result.tier() << " (" << result.value().model << "), confidence "
                      << confidence << ", cost " << dollars(result.cost()) << ", "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(result.latency()).count() << " ms";
            if (result.first_token_latency()) {
                std::cout << ", first token after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(*result.first_token_latency()).count()
                          << " ms";
            }
            std::cout << '\n';
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
    // A cheap answer needs text, a natural end and confident tokens. The frontier's threshold is
    // 0: its answer is final (even an empty or cut one, which its confidence of 0 then shows).
    const auto check = [] {
        return cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::not_truncated(),
                                       cascade::verify::mean_token_prob());
    };
    // The same cascade over clients that answer whole or stream (StreamingChatClient).
    const auto answer_with = [&](auto cheap_client, auto frontier_client) {
        auto cheap = cascade::with_retry(std::move(cheap_client), policy, retryable).with_event_hook(note_retry, "cheap");
        auto frontier =
            cascade::with_retry(std::move(frontier_client), policy, retryable).with_event_hook(note_retry, "frontier");
        // A streamed cheap answer is stopped at its first unlikely token or at the opening of a
        // refusal (either would be rejected at the end anyway), and when it stalls; the frontier
        // is never stopped early: its answer is final. Both are ignored for a client that does
        // not stream.
        auto cheap_tier =
            cascade::tier("cheap", std::move(cheap), check(), config.min_confidence,
                          cascade::price_per_token(config.cheap.prices))
                .with_early_exit(cascade::verify::stop_when_any(
                    cascade::verify::stop_when_min_prob_below(config.stream_min_prob), cascade::verify::stop_on_refusal()))
                .with_stall_limit(config.stall_limit);
        auto frontier_tier = cascade::tier("frontier", std::move(frontier), check(), 0.0,
                                           cascade::price_per_token(config.frontier.prices));
        if (config.hedge_after) {
            // A slow cheap call gets company: the frontier starts too, the first good answer wins,
            // and the loser's HTTP transfer is aborted (chat_client.hpp checks cancel_requested()).
            cascade::Cascade chain{cascade::with_hedge_after(std::move(cheap_tier), *config.hedge_after),
                                   std::move(frontier_tier)};
            return answer_all(chain, args, config, retries);
        }
        cascade::Cascade chain{std::move(cheap_tier), std::move(frontier_tier)};
        return answer_all(chain, args, config, retries);
    };
    const ChatClient cheap_client(config.endpoint, config.cheap.model);
    const ChatClient frontier_client(config.endpoint, config.frontier.model);
    const Totals totals = args.stream ? answer_with(StreamingChatClient(cheap_client), StreamingChatClient(frontier_client))
                                      : answer_with(cheap_client, frontier_client);

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
