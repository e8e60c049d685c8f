// SPDX-License-Identifier: MIT
// Streaming over loopback: what a cascade adds to the time to first token, what reusing a
// connection saves, and how soon a silent transfer ends once its sink asks it to stop, with the
// openai_cascade example's client (libcurl) against the end-to-end tests' recorded server
// (cpp-httplib), both in this process, on 127.0.0.1.
//
//     bench_streaming_loopback [CALLS]        (default 400)
//
// 1. Time to first token of an accepted streamed answer: the streaming client called directly,
//    with a sink that notes when its first token comes, against the same client as the cheap
//    tier of a two-tier cascade (verifier, early-exit rule, retry wrapper, price), run by
//    Cascade::stream in pass-through mode, the first token timed in the caller's callback. Both
//    from just before the call; the two alternate, call by call, so that they share the
//    machine's state. Medians.
// 2. The time of one whole call (not streamed) when each call reuses the client's connection,
//    against a new connection for each call (a new client each time). Alternating; medians.
// 3. How late a silent transfer ends after its sink starts saying stop_requested() (250 to 700 ms
//    after the call began, 50 ms later each round, as a stall limit or a deadline would; the easy
//    interface checks a new transfer once about 200 ms in, then once a second): the streaming
//    client, which drives libcurl's multi interface and checks the sink every 20 ms while no data
//    comes, against the same streamed request on libcurl's easy interface with the sink checked in
//    its progress callback (the client's way before). Two silences: a stream that stalls after
//    three tokens, and a server that sends no byte, headers included. Alternating; medians of 20
//    calls each, a new server each round.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <cascade/cascade.hpp>
#include <cascade/integration/chat_completion.hpp>
#include <cascade/runtime.hpp>
#include <cascade/verify.hpp>

#include "chat_client.hpp"
#include "recorded_chat_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using openai_cascade::ChatClient;
using openai_cascade::StreamingChatClient;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// A sink that notes when its first token came.
struct FirstToken {
    Clock::time_point first{};
    bool seen = false;
    cascade::TokenSink sink() {
        return cascade::TokenSink(
            this,
            [](void* self, const cascade::TokenChunk&) {
                auto& me = *static_cast<FirstToken*>(self);
                if (!me.seen) {
                    me.first = Clock::now();
                    me.seen = true;
                }
                return cascade::StreamControl::go_on;
            },
            [](void*) { return false; });
    }
};

// A sink that asks to stop from `at` on, as a stall limit or a deadline would.
struct StopAt {
    Clock::time_point at{};
    cascade::TokenSink sink() {
        return cascade::TokenSink(
            this, [](void*, const cascade::TokenChunk&) { return cascade::StreamControl::go_on; },
            [](void* self) { return Clock::now() >= static_cast<StopAt*>(self)->at; });
    }
};

// The baseline of part 3: the streamed request on curl_easy_perform, the body thrown away, the
// sink checked in the progress callback, which libcurl calls about once a second while nothing
// arrives.
Clock::time_point easy_interface_stream(const std::string& url, const std::string& model, const std::string& question,
                                        StopAt& stop) {
    const std::string body = nlohmann::json{
        {"model", model},
        {"messages", nlohmann::json::array({{{"role", "user"}, {"content", question}}})},
        {"stream", true}}.dump();
    CURL* h = curl_easy_init();
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(
        h, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t size, std::size_t count, void*) { return size * count; });
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(
        h, CURLOPT_XFERINFOFUNCTION, +[](void* data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
            return Clock::now() >= static_cast<StopAt*>(data)->at ? 1 : 0;
        });
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &stop);
    const CURLcode code = curl_easy_perform(h);
    const auto end = Clock::now();
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (code != CURLE_ABORTED_BY_CALLBACK) {
        std::fprintf(stderr, "the easy-interface baseline ended otherwise than stopped: %s\n",
                     curl_easy_strerror(code));
        std::exit(1);
    }
    return end;
}

void report(const char* what, const std::vector<double>& base, const char* base_name, const std::vector<double>& other,
            const char* other_name) {
    const double b = median(base);
    const double o = median(other);
    std::printf("%s\n", what);
    std::printf("  %-40s median %8.3f ms  p90 %8.3f ms\n", base_name, b, quantile(base, 0.9));
    std::printf("  %-40s median %8.3f ms  p90 %8.3f ms\n", other_name, o, quantile(other, 0.9));
    std::printf("  difference %+.3f ms, ratio %.3f\n\n", o - b, o / b);
}

}  // namespace

int main(int argc, char** argv) {
    const int calls = argc > 1 ? std::max(10, std::atoi(argv[1])) : 400;
    const openai_cascade::CurlGlobal curl;
    e2e::RecordedChatServer server(RECORDED_DIR);
    server.start();
    openai_cascade::Endpoint endpoint;
    endpoint.base_url = server.base_url();
    const std::string question = "What is the capital of France?";  // 7 confident tokens
    const cascade::CallContext no_limits;

    // 1. Time to first token.
    const StreamingChatClient direct(ChatClient(endpoint, "cheap-model"));
    cascade::Cascade chain{
        cascade::tier("cheap", cascade::with_retry(StreamingChatClient(ChatClient(endpoint, "cheap-model")), cascade::RetryPolicy{}),
                      cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::not_truncated(),
                                              cascade::verify::mean_token_prob()),
                      0.8, cascade::price_per_token({0.15, 0.60}))
            .with_early_exit(cascade::verify::stop_when_any(cascade::verify::stop_when_min_prob_below(0.25),
                                                            cascade::verify::stop_on_refusal()))
            .with_stall_limit(std::chrono::seconds(5)),
        cascade::tier("frontier", StreamingChatClient(ChatClient(endpoint, "frontier-model")))};
    std::vector<double> ttft_direct, ttft_cascade, ttft_reported;
    for (int i = -20; i < calls; ++i) {  // the first 20 of each warm up, unrecorded
        FirstToken first;
        auto sink = first.sink();
        const auto t0 = Clock::now();
        const auto c = direct(question, sink, no_limits);
        if (!first.seen || c.choices.at(0).text.empty()) {
            std::fprintf(stderr, "the direct call streamed no token\n");
            return 1;
        }
        Clock::time_point cascade_first{};
        bool seen = false;
        const auto t1 = Clock::now();
        const auto r = chain.stream(
            question,
            [&](const cascade::StreamEvent& e) {
                if (!seen && e.kind == cascade::StreamEventKind::token) {
                    cascade_first = Clock::now();
                    seen = true;
                }
            },
            cascade::StreamMode::pass_through);
        if (!seen || !r.has_value() || r.tier_index() != 0 || !r.first_token_latency()) {
            std::fprintf(stderr, "the cascade's cheap tier did not answer by streaming\n");
            return 1;
        }
        if (i < 0) continue;
        ttft_direct.push_back(ms(first.first - t0));
        ttft_cascade.push_back(ms(cascade_first - t1));
        ttft_reported.push_back(ms(*r.first_token_latency()));
    }
    std::printf("loopback, %d calls of each, %s\n\n", calls, question.c_str());
    report("time to first token", ttft_direct, "streaming client, direct", ttft_cascade,
           "through Cascade::stream (pass-through)");
    std::printf("  the cascade's own first_token_latency(): median %.3f ms\n\n", median(ttft_reported));

    // 2. Connection reuse.
    const ChatClient reused(endpoint, "cheap-model");
    std::vector<double> with_reuse, without;
    for (int i = -20; i < calls; ++i) {
        const auto t0 = Clock::now();
        (void)reused(question, no_limits);
        const auto t1 = Clock::now();
        (void)ChatClient(endpoint, "cheap-model")(question, no_limits);  // its own pool: a new connection
        const auto t2 = Clock::now();
        if (i < 0) continue;
        with_reuse.push_back(ms(t1 - t0));
        without.push_back(ms(t2 - t1));
    }
    report("one whole call (not streamed)", with_reuse, "reusing the client's connection", without,
           "a new connection per call");
    std::printf("connections the server saw: %zu (for %zu requests)\n\n", server.connections(),
                server.requests().size());
    server.stop();

    // 3. How late a silent transfer ends after the stop request. A server per round: each stopped
    // call leaves one of its threads waiting out the recorded pause until the server stops.
    struct Silence {
        const char* name;
        std::string model;
        std::string question;
        std::vector<double> easy, client;
    };
    Silence silences[] = {{"stalled after 3 tokens", "cheap-model", "Explain photosynthesis in one sentence.", {}, {}},
                          {"no byte from the server", "frontier-model", "What is the largest planet?", {}, {}}};
    for (int round = 0; round < 20; ++round) {
        const auto stop_after = std::chrono::milliseconds(250 + 50 * (round % 10));
        e2e::RecordedChatServer silent(RECORDED_DIR);
        silent.start();
        openai_cascade::Endpoint quiet;
        quiet.base_url = silent.base_url();
        quiet.timeout = std::chrono::seconds(20);
        for (Silence& s : silences) {
            StopAt easy_stop;
            easy_stop.at = Clock::now() + stop_after;
            const auto easy_end =
                easy_interface_stream(quiet.base_url + "/chat/completions", s.model, s.question, easy_stop);
            s.easy.push_back(ms(easy_end - easy_stop.at));

            StopAt client_stop;
            auto sink = client_stop.sink();
            client_stop.at = Clock::now() + stop_after;
            try {
                (void)StreamingChatClient(ChatClient(quiet, s.model))(s.question, sink, no_limits);
            } catch (const cascade::StreamStopped&) {  // stopped before its first token
            }
            s.client.push_back(ms(Clock::now() - client_stop.at));
        }
    }
    for (const Silence& s : silences) {
        const std::string what = std::string("stop delay, ") + s.name + " (from the stop request to the call's end)";
        report(what.c_str(), s.easy, "easy interface, progress callback", s.client,
               "streaming client (multi, 20 ms polls)");
    }
    return 0;
}
