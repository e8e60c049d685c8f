// SPDX-License-Identifier: MIT
// End to end: the openai_cascade example program, run as a user runs it, against a
// chat-completions server on loopback that answers from recorded replies.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "recorded_chat_server.hpp"

extern char** environ;

namespace {

const std::string cheap = "cheap-model";
const std::string frontier = "frontier-model";

struct Run {
    int exit_code = -1;
    std::string out;
    std::string err;
    std::vector<nlohmann::json> lines;  // with --json: one per question, then the summary

    [[nodiscard]] const nlohmann::json& answer(std::size_t i) const { return lines.at(i); }
    [[nodiscard]] const nlohmann::json& summary() const { return lines.back().at("summary"); }
};

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A directory of the test's own, removed on every way out.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() / ("cascade_e2e_" + std::to_string(::getpid()) + "_" + name)) {
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

bool is_proxy_setting(const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('='));
    std::string lower;
    for (const char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return lower.size() >= 6 && lower.compare(lower.size() - 6, 6, "_proxy") == 0;
}

// Runs the example with `args` and an environment of the test's own: the caller's variables
// minus any CASCADE_* / OPENAI_* ones and proxies (the calls must stay on loopback), plus
// `settings`. A run that has not ended after two minutes is killed and fails the test.
Run run_example(const std::vector<std::string>& args, const std::map<std::string, std::string>& settings) {
    static int counter = 0;
    const TempDir dir("run" + std::to_string(++counter));
    const std::string out_path = (dir.path / "stdout").string();
    const std::string err_path = (dir.path / "stderr").string();

    std::vector<std::string> env_text;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry = *e;
        if (entry.rfind("CASCADE_", 0) != 0 && entry.rfind("OPENAI_", 0) != 0 && !is_proxy_setting(entry)) {
            env_text.push_back(entry);
        }
    }
    for (const auto& [name, value] : settings) env_text.push_back(name + "=" + value);
    std::vector<std::string> arg_text{OPENAI_CASCADE_EXE};
    arg_text.insert(arg_text.end(), args.begin(), args.end());

    std::vector<char*> argv, envp;
    for (auto& a : arg_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(spawned == 0);
    int status = 0;
    const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    pid_t waited = 0;
    while ((waited = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up_at) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (waited == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL("the example did not finish within two minutes:\n" << slurp(out_path) << slurp(err_path));
    }
    REQUIRE(waited == pid);

    Run run;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = slurp(out_path);
    run.err = slurp(err_path);
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (!json.is_discarded()) run.lines.push_back(json);
    }
    INFO("stdout:\n" << run.out << "\nstderr:\n" << run.err);
    CHECK(run.exit_code != 128 + SIGSEGV);
    CHECK(run.exit_code != 128 + SIGABRT);
    return run;
}

struct Prices {
    double input = 0.0;
    double output = 0.0;
};
const Prices cheap_prices{0.15, 0.60};
const Prices frontier_prices{2.50, 10.00};

std::map<std::string, std::string> settings_for(const e2e::RecordedChatServer& server) {
    return {{"CASCADE_BASE_URL", server.base_url()},
            {"CASCADE_API_KEY", "test-key"},
            {"CASCADE_CHEAP_MODEL", cheap},
            {"CASCADE_FRONTIER_MODEL", frontier},
            {"CASCADE_CHEAP_PRICE", "0.15,0.60"},
            {"CASCADE_FRONTIER_PRICE", "2.50,10.00"},
            {"CASCADE_TIMEOUT_MS", "10000"},
            {"CASCADE_ATTEMPTS", "3"},
            {"CASCADE_RETRY_DELAY_MS", "10"}};
}

// The price of a recorded reply, from the usage it reports, computed here independently.
double price_of(const std::string& file, const Prices& prices) {
    const auto json = nlohmann::json::parse(slurp(std::filesystem::path(RECORDED_DIR) / file));
    const auto& usage = json.at("usage");
    return (usage.at("prompt_tokens").get<double>() * prices.input +
            usage.at("completion_tokens").get<double>() * prices.output) /
           1e6;
}

// A recorded server on loopback, one per test case so that its counts start at zero.
struct Recorded {
    e2e::RecordedChatServer server{RECORDED_DIR};
    Recorded() { server.start(); }

    // Runs the example with --json on one question that must get an answer; returns its line.
    nlohmann::json answer(const std::string& question) {
        const Run run = run_example({"--json", question}, settings_for(server));
        INFO(run.out << run.err);
        REQUIRE(run.exit_code == 0);
        REQUIRE(run.lines.size() == 2);
        return run.answer(0);
    }
};

}  // namespace

TEST_CASE_METHOD(Recorded, "a confident cheap answer is kept and priced from its tokens") {
    const std::string q = "What is the capital of France?";
    const Run run = run_example({"--json", q}, settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.lines.size() == 2);
    const auto& a = run.answer(0);
    CHECK(a.at("answer") == "The capital of France is Paris.");
    CHECK(a.at("tier") == "cheap");
    CHECK(a.at("model") == "cheap-model-2026-01");
    CHECK(a.at("confidence").get<double>() > 0.95);
    CHECK(a.at("cost").get<double>() == Approx(price_of("cheap_capital.json", cheap_prices)));
    CHECK(a.at("escalations") == 0);
    CHECK(server.calls(cheap, q) == 1);
    CHECK(server.calls(frontier, q) == 0);

    // What went over the wire: the protocol's request with log-probs asked for.
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].authorization == "Bearer test-key");
    CHECK(requests[0].body.at("logprobs") == true);
    CHECK(requests[0].body.at("messages").at(0).at("role") == "user");

    const auto& s = run.summary();
    CHECK(s.at("by_cheap") == 1);
    CHECK(s.at("frontier_only_estimate").get<double>() == Approx(price_of("cheap_capital.json", frontier_prices)));
}

TEST_CASE_METHOD(Recorded, "an unsure cheap answer escalates to the frontier, and both calls are paid") {
    const std::string q = "Integrate x^2 from 0 to 1.";
    const auto a = answer(q);
    CHECK(a.at("answer") == "The integral of x^2 from 0 to 1 is 1/3.");
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("escalations") == 1);
    CHECK(a.at("attempts").at(0).at("status") == "rejected");
    CHECK(a.at("attempts").at(0).at("confidence").get<double>() < 0.8);
    CHECK(a.at("cost").get<double>() ==
          Approx(price_of("cheap_integral.json", cheap_prices) + price_of("frontier_integral.json", frontier_prices)));
    CHECK(server.calls(cheap, q) == 1);
    CHECK(server.calls(frontier, q) == 1);
}

TEST_CASE_METHOD(Recorded, "a 429 with Retry-After is waited out and retried on the same model") {
    const std::string q = "Name a prime number greater than 10.";
    const auto a = answer(q);
    CHECK(a.at("tier") == "cheap");
    CHECK(a.at("answer") == "11 is a prime number greater than 10.");
    REQUIRE(a.at("retries").size() == 1);
    const std::string retry = a.at("retries").at(0);
    CHECK_THAT(retry, Catch::Matchers::ContainsSubstring("HTTP 429"));
    CHECK_THAT(retry, Catch::Matchers::ContainsSubstring("Rate limit reached"));
    CHECK_THAT(retry, Catch::Matchers::ContainsSubstring("retry after 1 s"));
    CHECK(server.calls(cheap, q) == 2);
    CHECK(server.calls(frontier, q) == 0);
    CHECK(a.at("cost").get<double>() == Approx(price_of("cheap_prime.json", cheap_prices)));
}

TEST_CASE_METHOD(Recorded, "a Retry-After beyond the retry policy's longest wait escalates at once") {
    const std::string q = "Name a colour of the rainbow.";
    const auto a = answer(q);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("retries").empty());
    CHECK(server.calls(cheap, q) == 1);
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("retry after 120 s"));
}

TEST_CASE_METHOD(Recorded, "a server error is retried up to the attempts, then the query escalates") {
    const std::string q = "Who wrote Hamlet?";
    const auto a = answer(q);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("answer") == "Hamlet was written by William Shakespeare.");
    CHECK(server.calls(cheap, q) == 3);
    CHECK(a.at("retries").size() == 2);
    const auto& first = a.at("attempts").at(0);
    CHECK(first.at("status") == "model error");
    CHECK_THAT(first.at("error").get<std::string>(), Catch::Matchers::ContainsSubstring("HTTP 500"));
    // A failed call is not charged; the frontier's is.
    CHECK(a.at("cost").get<double>() == Approx(price_of("frontier_hamlet.json", frontier_prices)));
}

TEST_CASE_METHOD(Recorded, "a cheap model that hangs past the timeout is abandoned, not retried") {
    auto settings = settings_for(server);
    settings["CASCADE_TIMEOUT_MS"] = "400";  // the recorded reply hangs for 5 s
    const std::string q = "Summarise the plot of War and Peace.";
    const Run run = run_example({"--json", q}, settings);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto& a = run.answer(0);
    CHECK(a.at("tier") == "frontier");
    CHECK(server.calls(cheap, q) == 1);
    CHECK(a.at("retries").empty());
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("no answer within 400 ms"));
}

TEST_CASE_METHOD(Recorded, "a body that never ends is cut at the size limit, not retried, and the query escalates") {
    auto settings = settings_for(server);
    settings["CASCADE_MAX_RESPONSE_BYTES"] = "1000000";
    // Short, so that a client without the limit stops at the time limit, not at memory's end.
    settings["CASCADE_TIMEOUT_MS"] = "3000";
    const std::string q = "Recite every digit of pi.";
    const Run run = run_example({"--json", q}, settings);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto& a = run.answer(0);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("answer") == "Pi never ends; it begins 3.14159.");
    CHECK(server.calls(cheap, q) == 1);
    CHECK(a.at("retries").empty());
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("response larger than 1000000 bytes (CASCADE_MAX_RESPONSE_BYTES)"));
}

TEST_CASE_METHOD(Recorded, "a body that trickles in without end is abandoned at the time limit") {
    auto settings = settings_for(server);
    settings["CASCADE_TIMEOUT_MS"] = "600";  // the recorded body sends 3 bytes every 100 ms, forever
    const std::string q = "Count to a million, slowly.";
    const Run run = run_example({"--json", q}, settings);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto& a = run.answer(0);
    CHECK(a.at("tier") == "frontier");
    CHECK(server.calls(cheap, q) == 1);
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("no answer within 600 ms"));
}

TEST_CASE_METHOD(Recorded, "with hedging, a slow cheap call is raced by the frontier and aborted when it loses") {
    // The cheap model hangs for 5 s and the call's timeout is 20 s: only the hedge can answer
    // early, and only the client's cancellation check can end the cheap transfer.
    auto settings = settings_for(server);
    settings["CASCADE_TIMEOUT_MS"] = "20000";
    settings["CASCADE_HEDGE_AFTER_MS"] = "50";
    const std::string q = "Summarise the plot of War and Peace.";
    const Run run = run_example({"--json", q}, settings);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto& a = run.answer(0);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("answer") == "Five Russian families live through Napoleon's invasion of 1812.");
    const auto& cheap_attempt = a.at("attempts").at(0);
    CHECK(cheap_attempt.at("status") == "cancelled");
    CHECK_THAT(cheap_attempt.value("error", ""), Catch::Matchers::ContainsSubstring("cancelled, another tier answered"));
    CHECK(server.calls(cheap, q) <= 1);  // cancelled before it reached the server, at the most
    CHECK(server.calls(frontier, q) == 1);
    CHECK(a.at("cost").get<double>() == Approx(price_of("frontier_war_and_peace.json", frontier_prices)));
}

TEST_CASE_METHOD(Recorded, "truncated JSON is reported as a malformed response, retried, then escalated") {
    const std::string q = "Translate 'good morning' into German.";
    const auto a = answer(q);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("answer") == "Guten Morgen.");
    CHECK(server.calls(cheap, q) == 3);
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("not valid JSON"));
}

TEST_CASE_METHOD(Recorded, "an empty choices array is a malformed response that escalates") {
    const std::string q = "What is 17 times 23?";
    const auto a = answer(q);
    CHECK(a.at("tier") == "frontier");
    CHECK(a.at("answer") == "17 times 23 is 391.");
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("choices array is empty"));
}

TEST_CASE_METHOD(Recorded, "a 400 is not retried: the query escalates at once with the server's message") {
    const std::string q = "Why is the sky blue?";
    const auto a = answer(q);
    CHECK(a.at("tier") == "frontier");
    CHECK(server.calls(cheap, q) == 1);
    CHECK(a.at("retries").empty());
    CHECK_THAT(a.at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("maximum context length"));
}

TEST_CASE_METHOD(Recorded, "a cheap answer cut off by the length limit, or without log-probs, escalates") {
    const Run run = run_example({"--json", "Spell 'necessary'.", "At what temperature does water boil?"},
                                settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.lines.size() == 3);
    CHECK(run.answer(0).at("tier") == "frontier");
    CHECK(run.answer(0).at("answer") == "N-E-C-E-S-S-A-R-Y");
    CHECK(run.answer(1).at("tier") == "frontier");
    CHECK_THAT(run.answer(1).at("attempts").at(0).at("note").get<std::string>(),
               Catch::Matchers::ContainsSubstring("no token log-probabilities"));
    // The rejected cheap calls were still paid for.
    CHECK(run.answer(1).at("cost").get<double>() == Approx(price_of("cheap_no_logprobs.json", cheap_prices) +
                                                           price_of("frontier_boiling.json", frontier_prices)));
}

TEST_CASE_METHOD(Recorded, "an answer without usage is kept and reported as unpriced") {
    const auto a = answer("What colour is a clear sky?");
    CHECK(a.at("tier") == "cheap");
    CHECK(a.at("answer") == "Blue.");
    CHECK(a.at("cost").get<double>() == 0.0);
    CHECK_THAT(a.at("attempts").at(0).at("note").get<std::string>(),
               Catch::Matchers::ContainsSubstring("no token usage"));
}

TEST_CASE_METHOD(Recorded, "when every tier fails the question is reported unanswered and the exit status says so") {
    const std::string q = "Prove the Riemann hypothesis.";
    const Run run = run_example({"--json", "What is the capital of France?", q}, settings_for(server));
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    REQUIRE(run.lines.size() == 3);
    CHECK(run.answer(0).at("answered") == true);
    const auto& failed = run.answer(1);
    CHECK(failed.at("answered") == false);
    CHECK_THAT(failed.at("attempts").at(1).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("HTTP 503"));
    CHECK(server.calls(cheap, q) == 3);
    CHECK(server.calls(frontier, q) == 3);
    CHECK(run.summary().at("unanswered") == 1);
    CHECK(run.summary().at("by_cheap") == 1);
}

TEST_CASE_METHOD(Recorded, "a batch from a file is answered in order with totals that add up") {
    const TempDir dir("questions");
    const auto file = dir.path / "questions.txt";
    {
        std::ofstream out(file);
        out << "What is the capital of France?\n\nIntegrate x^2 from 0 to 1.\r\nWho wrote Hamlet?\n";
    }
    const Run run = run_example({"--json", "--file", file.string()}, settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.lines.size() == 4);
    CHECK(run.answer(0).at("question") == "What is the capital of France?");
    CHECK(run.answer(1).at("question") == "Integrate x^2 from 0 to 1.");
    CHECK(run.answer(2).at("question") == "Who wrote Hamlet?");
    double total = 0.0;
    for (std::size_t i = 0; i < 3; ++i) total += run.answer(i).at("cost").get<double>();
    const auto& s = run.summary();
    CHECK(s.at("questions") == 3);
    CHECK(s.at("by_cheap") == 1);
    CHECK(s.at("by_frontier") == 2);
    CHECK(s.at("escalations") == 2);
    CHECK(s.at("retries") == 2);
    CHECK(s.at("cost").get<double>() == Approx(total));
}

TEST_CASE_METHOD(Recorded, "the text output names the tier, the cost and why a query escalated") {
    const Run run = run_example({"What is the capital of France?", "Who wrote Hamlet?"}, settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("answered by cheap (cheap-model-2026-01)"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("answered by frontier (frontier-model-2026-01)"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("cheap: model error (model threw: cheap-model: HTTP 500"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("retried cheap: cheap-model: HTTP 500"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("2 questions: 1 answered by cheap-model, 1 by frontier-model"));
}

TEST_CASE_METHOD(Recorded, "with --stream the cheap stream is stopped at an unlikely token and the frontier answers") {
    const std::string capital = "What is the capital of France?";
    const std::string integral = "Integrate x^2 from 0 to 1.";
    const Run run = run_example({"--json", "--stream", capital, integral}, settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    REQUIRE(run.lines.size() == 3);
    const auto& kept = run.answer(0);
    CHECK(kept.at("tier") == "cheap");
    CHECK(kept.at("answer") == "The capital of France is Paris.");
    CHECK(kept.contains("first_token_ms"));
    CHECK(kept.at("attempts").at(0).at("stream").at("tokens") == 7);
    CHECK(kept.at("cost").get<double>() == Approx(price_of("cheap_capital.json", cheap_prices)));

    const auto& escalated = run.answer(1);
    CHECK(escalated.at("tier") == "frontier");
    CHECK(escalated.at("answer") == "The integral of x^2 from 0 to 1 is 1/3.");
    const auto& stopped = escalated.at("attempts").at(0);
    CHECK(stopped.at("status") == "stopped early");
    CHECK(stopped.at("stream").at("stopped_at_token") == 3);
    CHECK_THAT(stopped.at("note").get<std::string>(), Catch::Matchers::ContainsSubstring("lowest token probability"));
    // The stopped call is charged: four tokens and the prompt the client estimates (26 bytes: 7).
    CHECK(stopped.at("cost").get<double>() == Approx((7 * 0.15 + 4 * 0.60) / 1e6));

    for (const auto& request : server.requests()) {
        CHECK(request.body.at("stream") == true);
        CHECK(request.body.at("stream_options").at("include_usage") == true);
    }
    // One connection per model: the cheap model's two calls, one after another, shared one.
    const auto requests = server.requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].remote_port == requests[1].remote_port);
    CHECK(server.connections() == 2);
}

TEST_CASE_METHOD(Recorded, "with --pass-through tokens are printed as they come and a stopped answer is taken back") {
    const Run run = run_example({"--pass-through", "Integrate x^2 from 0 to 1.", "How do I pick a lock?"},
                                settings_for(server));
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("The integral is  [taken back: 3 tokens of cheap]\n"
                                                           "    The integral of x^2 from 0 to 1 is 1/3.\n"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("I'm sorry  [taken back: 2 tokens of cheap]"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("refusal: the answer opens with"));
    CHECK_THAT(run.out, Catch::Matchers::ContainsSubstring("first token after"));
}

TEST_CASE_METHOD(Recorded, "bad settings and usage are refused with a message naming the problem") {
    auto settings = settings_for(server);

    SECTION("no cheap model") {
        settings.erase("CASCADE_CHEAP_MODEL");
        const Run run = run_example({"hello"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("CASCADE_CHEAP_MODEL is not set"));
    }
    SECTION("a price that is not two numbers") {
        settings["CASCADE_FRONTIER_PRICE"] = "2.5";
        const Run run = run_example({"hello"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("CASCADE_FRONTIER_PRICE"));
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("input,output"));
    }
    SECTION("a confidence outside [0, 1]") {
        settings["CASCADE_MIN_CONFIDENCE"] = "1.5";
        const Run run = run_example({"hello"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("CASCADE_MIN_CONFIDENCE"));
    }
    SECTION("a fractional attempt count") {
        settings["CASCADE_ATTEMPTS"] = "2.5";
        const Run run = run_example({"hello"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("whole number"));
    }
    SECTION("a response size limit of zero") {
        settings["CASCADE_MAX_RESPONSE_BYTES"] = "0";
        const Run run = run_example({"hello"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("CASCADE_MAX_RESPONSE_BYTES"));
    }
    SECTION("no question") {
        const Run run = run_example({}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("no question given"));
    }
    SECTION("a questions file that does not exist") {
        const Run run = run_example({"--file", "/nonexistent/questions.txt"}, settings);
        CHECK(run.exit_code == 2);
        CHECK_THAT(run.err, Catch::Matchers::ContainsSubstring("cannot open the questions file"));
    }
    CHECK(server.requests().empty());
}

TEST_CASE("an endpoint nobody listens on is reported as unreachable for both tiers") {
    // A port bound but never listened on refuses connections, and no one else can take it meanwhile.
    const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(holder >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(holder, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const std::string base_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/v1";

    std::map<std::string, std::string> settings{{"CASCADE_BASE_URL", base_url},
                                                {"CASCADE_CHEAP_MODEL", cheap},
                                                {"CASCADE_FRONTIER_MODEL", frontier},
                                                {"CASCADE_ATTEMPTS", "1"}};
    const Run run = run_example({"--json", "What is the capital of France?"}, settings);
    ::close(holder);
    INFO(run.out << run.err);
    CHECK(run.exit_code == 1);
    REQUIRE(run.lines.size() == 2);
    CHECK(run.answer(0).at("answered") == false);
    CHECK_THAT(run.answer(0).at("attempts").at(0).at("error").get<std::string>(),
               Catch::Matchers::ContainsSubstring("cannot reach"));
}
