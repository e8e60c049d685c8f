// SPDX-License-Identifier: MIT
// A small client for OpenAI-compatible /v1/chat/completions endpoints, on libcurl and
// nlohmann-json. It turns every way a call can go wrong into an exception that cascade's retry
// and escalation understand (see cascade/integration/chat_completion.hpp), and fills a cascade::ChatCompletion
// that the ready-made verifiers read. It streams too (`"stream": true`): StreamingChatClient hands
// each token to a cascade::TokenSink as it arrives, so that a cascade can watch the answer and
// stop it mid-way. Calls reuse their connections (HTTP keep-alive), and each checks every
// detail::stop_poll_interval, data or none, whether the cascade still wants it.
#ifndef OPENAI_CASCADE_CHAT_CLIENT_HPP
#define OPENAI_CASCADE_CHAT_CLIENT_HPP

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cascade/core/call_context.hpp>
#include <cascade/core/token_sink.hpp>
#include <cascade/integration/chat_completion.hpp>
#include <cascade/integration/chat_stream.hpp>

namespace openai_cascade {

/// No answer within the call's time: the client's timeout or the time the cascade had left.
/// Not worth retrying against the same model (it is likely to hang again); the cascade escalates.
class TimedOut : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The server could not be reached or the connection broke: retried, then escalated.
class TransportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The server sent more than the client's size limit: the transfer is stopped there, before the
/// excess is stored. A cascade::NotRetryable: the same model would likely send it again.
class ResponseTooLarge : public cascade::NotRetryable {
public:
    using cascade::NotRetryable::NotRetryable;
};

/// The largest response body a client keeps by default: a chat completion with thousands of
/// tokens and their log-probabilities is well under 1 MiB.
inline constexpr std::size_t default_max_response_bytes = std::size_t{16} * 1024 * 1024;

/// Where to send requests and how.
struct Endpoint {
    std::string base_url;  ///< up to and including the version, e.g. https://api.openai.com/v1
    std::string api_key;   ///< sent as a bearer token; empty for local servers that need none
    /// The whole call, connecting and the last byte of the body included.
    std::chrono::milliseconds timeout{30000};
    int max_tokens = 512;
    /// Ask for the tokens' log-probabilities (`logprobs: true`), which the confidence checks and
    /// the early-exit rules read. Some servers refuse the field: turn it off for those.
    bool logprobs = true;
    /// A longer body stops the call with ResponseTooLarge; at least 1 (ChatClient refuses 0).
    std::size_t max_response_bytes = default_max_response_bytes;
    /// How the size limit is named in ResponseTooLarge's message, e.g. the setting that sets it.
    std::string max_response_bytes_name = "max_response_bytes";
};

/// libcurl needs one global initialisation per process, before any other thread starts.
class CurlGlobal {
public:
    CurlGlobal() {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("libcurl failed to initialise");
    }
    ~CurlGlobal() { curl_global_cleanup(); }
    CurlGlobal(const CurlGlobal&) = delete;
    CurlGlobal& operator=(const CurlGlobal&) = delete;
};

namespace detail {

// What one transfer has received, and the limits it stops at.
struct Transfer {
    std::string body;
    std::size_t max_body = 0;
    bool too_large = false;
    std::chrono::steady_clock::time_point deadline;
    bool past_deadline = false;
    const cascade::CallContext* context = nullptr;
};

// Refuses the bytes that would take the body past its limit, before storing them, and any bytes
// after the deadline: libcurl then ends the transfer with a write error.
inline std::size_t append_body(char* data, std::size_t size, std::size_t count, void* out) {
    auto& transfer = *static_cast<Transfer*>(out);
    const std::size_t bytes = size * count;
    if (std::chrono::steady_clock::now() >= transfer.deadline) {
        transfer.past_deadline = true;
        return 0;
    }
    if (bytes > transfer.max_body - transfer.body.size()) {
        transfer.too_large = true;
        return 0;
    }
    transfer.body.append(data, bytes);
    return bytes;
}

// Keeps the Retry-After header; header names are case-insensitive.
inline std::size_t keep_retry_after(char* data, std::size_t size, std::size_t count, void* out) {
    const std::string_view line(data, size * count);
    constexpr std::string_view name = "retry-after:";
    if (line.size() > name.size() &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
            return a == std::tolower(static_cast<unsigned char>(b));
        })) {
        *static_cast<std::string*>(out) = std::string(line.substr(name.size()));
    }
    return size * count;
}

// Stops the call when a cascade no longer needs it (another tier already answered), and holds
// the whole call's deadline on this side too, whatever the pace of the data: detail::perform
// calls this every stop_poll_interval while nothing arrives, libcurl more often while data flows.
inline int abort_if_cancelled(void* transfer, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(transfer);
    if (t.context != nullptr && t.context->cancel_requested()) return 1;
    if (std::chrono::steady_clock::now() >= t.deadline) {
        t.past_deadline = true;
        return 1;
    }
    return 0;
}

struct ListDeleter {
    void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

// One call's libcurl handles: the request (easy) and the multi handle that runs it. The multi
// handle owns the connections its transfers opened, so the two stay paired for their whole life.
struct Handles {
    CURL* easy = nullptr;
    CURLM* multi = nullptr;
};

inline void close_handles(Handles handles) noexcept {
    // The easy handle was removed from the multi handle when its transfer ended (detail::perform).
    if (handles.multi != nullptr) curl_multi_cleanup(handles.multi);
    if (handles.easy != nullptr) curl_easy_cleanup(handles.easy);
}

// The handles of one client that no call is using. A multi handle keeps the connections its
// transfers opened (and its DNS cache) after the transfer, and the easy handle is only reset, so a
// call that takes a pair back from here reuses the previous call's connection when the server kept
// it open (HTTP keep-alive): sequential calls share one connection, streamed or not, and calls made
// at the same time each take their own pair. Thread-safe.
class HandlePool {
public:
    HandlePool() = default;
    ~HandlePool() {
        for (const Handles& handles : idle_) close_handles(handles);
    }
    HandlePool(const HandlePool&) = delete;
    HandlePool& operator=(const HandlePool&) = delete;

    // An idle pair, or a new one; both null when libcurl cannot make one.
    Handles take() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!idle_.empty()) {
                const Handles handles = idle_.back();
                idle_.pop_back();
                return handles;
            }
        }
        Handles handles{curl_easy_init(), curl_multi_init()};
        if (handles.easy == nullptr || handles.multi == nullptr) {
            close_handles(handles);
            return Handles{};
        }
        return handles;
    }

    // Clears the options of the call that used `handles` (they point into that call's frame) and
    // keeps them for the next call; beyond max_idle, they are closed instead.
    void give_back(Handles handles) noexcept {
        curl_easy_reset(handles.easy);
        std::unique_lock<std::mutex> lock(mutex_);
        if (idle_.size() < max_idle) {
            try {
                idle_.push_back(handles);
                return;
            } catch (...) {  // no memory to keep them: close them below
            }
        }
        lock.unlock();
        close_handles(handles);
    }

private:
    // More than the calls a client makes at once in this example (two, with hedging).
    static constexpr std::size_t max_idle = 16;
    std::mutex mutex_;
    std::vector<Handles> idle_;
};

// A pair of handles borrowed from a pool for one call.
class Lease {
public:
    explicit Lease(HandlePool& pool) : pool_(pool), handles_(pool.take()) {}
    ~Lease() {
        if (handles_.easy != nullptr) pool_.give_back(handles_);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    [[nodiscard]] CURL* get() const noexcept { return handles_.easy; }
    [[nodiscard]] CURLM* multi() const noexcept { return handles_.multi; }

private:
    HandlePool& pool_;
    Handles handles_;
};

// How long a transfer that receives nothing waits before it checks again whether it should stop
// (a stall, the deadline, a lost hedge race, another tier's answer). libcurl's easy interface
// checks only about once a second then; a poll ends as soon as data arrives, so a shorter interval
// costs a few wake-ups of an idle transfer, never a delay of a busy one.
inline constexpr std::chrono::milliseconds stop_poll_interval{20};

// Runs the transfer set up on `easy` through `multi`, waiting for data at most stop_poll_interval
// at a time and asking `should_stop` (a progress callback of this file: it notes why) between the
// waits. Returns libcurl's result, or CURLE_ABORTED_BY_CALLBACK when `should_stop` ended the
// transfer between two waits. The easy handle leaves `multi` before this returns, its connection
// kept there for the next call unless the transfer was cut short.
inline CURLcode perform(CURL* easy, CURLM* multi, curl_xferinfo_callback should_stop, void* data) {
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) return CURLE_FAILED_INIT;
    struct Leave {
        CURLM* multi;
        CURL* easy;
        ~Leave() { curl_multi_remove_handle(multi, easy); }
    } leave{multi, easy};
    for (;;) {
        int running = 0;
        const CURLMcode step = curl_multi_perform(multi, &running);
        if (step == CURLM_OUT_OF_MEMORY) return CURLE_OUT_OF_MEMORY;
        if (step != CURLM_OK) return CURLE_FAILED_INIT;
        if (running == 0) break;
        if (should_stop(data, 0, 0, 0, 0) != 0) return CURLE_ABORTED_BY_CALLBACK;
        const CURLMcode wait =
            curl_multi_poll(multi, nullptr, 0, static_cast<int>(stop_poll_interval.count()), nullptr);
        if (wait == CURLM_OUT_OF_MEMORY) return CURLE_OUT_OF_MEMORY;
        if (wait != CURLM_OK) return CURLE_FAILED_INIT;
    }
    int left = 0;
    while (const CURLMsg* message = curl_multi_info_read(multi, &left)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == easy) return message->data.result;
    }
    return CURLE_FAILED_INIT;  // libcurl finished the transfer without saying how: not expected
}

// What one streamed transfer has received: the parser fed with a 2xx body, or the body of an
// error status, kept for its message.
struct StreamTransfer {
    CURL* handle = nullptr;
    cascade::ChatStreamParser parser;
    cascade::TokenSink* sink = nullptr;
    const cascade::CallContext* context = nullptr;
    std::chrono::steady_clock::time_point deadline;
    std::uint64_t max_body = 0;
    std::uint64_t received = 0;
    long status = 0;
    std::string error_body;
    std::size_t chunks = 0;  // handed to the sink, the one it answered stop to included
    bool stopped = false;    // the sink (or the cascade) ended the stream
    bool past_deadline = false;
    bool too_large = false;
    bool typed = false;  // the 2xx body's Content-Type has been read
    bool whole = false;  // ...and it is JSON: one whole completion, not a stream
    std::string whole_body;
    std::exception_ptr failure;  // what the parser threw: a malformed or error event
};

// Whether a Content-Type names JSON (`application/json`, parameters allowed): the answer of a
// server that ignored `"stream": true`. Media types are case-insensitive.
inline bool is_json_type(const char* content_type) {
    if (content_type == nullptr) return false;
    const std::string_view type(content_type);
    constexpr std::string_view json = "application/json";
    if (type.size() < json.size() || !std::equal(json.begin(), json.end(), type.begin(), [](char a, char b) {
            return a == std::tolower(static_cast<unsigned char>(b));
        })) {
        return false;
    }
    return type.size() == json.size() || type[json.size()] == ';' || type[json.size()] == ' ';
}

// The parser's sink: counts the chunks and hands them on; polled by the parser too.
struct CountingSink {
    StreamTransfer* transfer;
    cascade::StreamControl operator()(const cascade::TokenChunk& chunk) const {
        ++transfer->chunks;
        return (*transfer->sink)(chunk);
    }
    [[nodiscard]] bool stop_requested() const { return transfer->sink->stop_requested(); }
};

// Feeds the body to the parser as it arrives. Returning less than it got makes libcurl end the
// transfer at once (CURLE_WRITE_ERROR): on a stop, a malformed event, the size limit or the
// deadline. Nothing may be thrown through libcurl: a parser error is kept for later.
inline std::size_t feed_stream(char* data, std::size_t size, std::size_t count, void* out) {
    auto& t = *static_cast<StreamTransfer*>(out);
    const std::size_t bytes = size * count;
    if (std::chrono::steady_clock::now() >= t.deadline) {
        t.past_deadline = true;
        return 0;
    }
    if (bytes > t.max_body - t.received) {
        t.too_large = true;
        return 0;
    }
    t.received += bytes;
    if (t.status == 0) curl_easy_getinfo(t.handle, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status < 200 || t.status > 299) {
        t.error_body.append(data, bytes);
        return bytes;
    }
    if (!t.typed) {
        const char* type = nullptr;
        curl_easy_getinfo(t.handle, CURLINFO_CONTENT_TYPE, &type);
        t.whole = is_json_type(type);
        t.typed = true;
    }
    if (t.whole) {
        t.whole_body.append(data, bytes);
        return bytes;
    }
    try {
        if (t.parser.feed(std::string_view(data, bytes), CountingSink{&t}) == cascade::StreamControl::stop) {
            t.stopped = true;
            return 0;
        }
    } catch (...) {
        t.failure = std::current_exception();
        return 0;
    }
    return bytes;
}

// Between the chunks: ends a stream the cascade no longer wants (the stall limit, the deadline or
// a lost hedge race, all of which the sink reports) within a poll: detail::perform calls this
// every stop_poll_interval while no data comes, libcurl more often while data flows.
inline int stop_stream_if_asked(void* transfer, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<StreamTransfer*>(transfer);
    if (t.sink->stop_requested() || (t.context != nullptr && t.context->cancel_requested())) {
        t.stopped = true;
        return 1;
    }
    if (std::chrono::steady_clock::now() >= t.deadline) {
        t.past_deadline = true;
        return 1;
    }
    return 0;
}

// The prompt tokens of a stream stopped before the server reported its usage: an estimate, one
// token per four bytes of the question (about right for English text; the few tokens of the
// chat template are left out), so that a stopped call is charged for its prompt too rather than
// for its answer alone.
inline std::uint64_t estimated_prompt_tokens(const std::string& question) noexcept {
    return (static_cast<std::uint64_t>(question.size()) + 3) / 4;
}

inline std::string excerpt(std::string_view body) {
    std::size_t keep = std::min<std::size_t>(body.size(), 120);
    // Never cut a UTF-8 character in two: back up over continuation bytes.
    while (keep < body.size() && keep > 0 && (static_cast<unsigned char>(body[keep]) & 0xC0U) == 0x80U) --keep;
    std::string out(body.substr(0, keep));
    for (char& ch : out) {
        if (ch == '\n' || ch == '\r') ch = ' ';
    }
    if (body.size() > keep) out += "...";
    return out;
}

// The server's own explanation of an error: `error.message` when the body has one.
inline std::string error_message(const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_object() && json.contains("error")) {
        const auto& error = json["error"];
        if (error.is_object() && error.contains("message") && error["message"].is_string()) {
            return error["message"].get<std::string>();
        }
        if (error.is_string()) return error.get<std::string>();
    }
    return excerpt(body);
}

inline std::uint64_t token_count(const nlohmann::json& usage, const char* field) {
    if (!usage.contains(field)) return 0;
    const auto& value = usage[field];
    if (!value.is_number_unsigned()) {
        throw cascade::MalformedResponse(std::string("usage.") + field + " is not a token count: " + value.dump());
    }
    return value.get<std::uint64_t>();
}

// The texts of the first choice's tokens in `logprobs.content[k].token`; empty when the body has
// none, or when one is missing (a completion is then handed to a sink as one chunk).
inline std::vector<std::string> token_texts(const std::string& body) {
    std::vector<std::string> texts;
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (!json.is_object() || !json.contains("choices") || !json["choices"].is_array() || json["choices"].empty()) {
        return texts;
    }
    const auto& choice = json["choices"].front();
    const auto logprobs = choice.find("logprobs");
    if (logprobs == choice.end() || !logprobs->is_object()) return texts;
    const auto tokens = logprobs->find("content");
    if (tokens == logprobs->end() || !tokens->is_array()) return texts;
    for (const auto& token : *tokens) {
        if (!token.is_object() || !token.contains("token") || !token["token"].is_string()) return {};
        texts.push_back(token["token"].get<std::string>());
    }
    return texts;
}

}  // namespace detail

/// Parses a chat-completion body; throws cascade::MalformedResponse saying what is wrong.
inline cascade::ChatCompletion parse_chat_completion(const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded()) {
        throw cascade::MalformedResponse("the response is not valid JSON (" + std::to_string(body.size()) +
                                         " bytes: " + detail::excerpt(body) + ")");
    }
    if (!json.is_object() || !json.contains("choices") || !json["choices"].is_array()) {
        throw cascade::MalformedResponse("the response has no choices array: " + detail::excerpt(body));
    }
    if (json["choices"].empty()) throw cascade::MalformedResponse("the response's choices array is empty");

    cascade::ChatCompletion completion;
    if (const auto id = json.find("id"); id != json.end() && id->is_string()) completion.id = id->get<std::string>();
    if (const auto model = json.find("model"); model != json.end() && model->is_string()) {
        completion.model = model->get<std::string>();
    }
    for (const auto& choice : json["choices"]) {
        cascade::ChatReply reply;
        const auto message = choice.find("message");
        if (message == choice.end() || !message->is_object() || !message->contains("content") ||
            !(*message)["content"].is_string()) {
            throw cascade::MalformedResponse("a choice has no message.content text");
        }
        reply.text = (*message)["content"].get<std::string>();
        if (const auto reason = choice.find("finish_reason"); reason != choice.end() && reason->is_string()) {
            reply.finish_reason = reason->get<std::string>();
        }
        // logprobs.content[k].logprob; absent or null when the server does not give them.
        if (const auto logprobs = choice.find("logprobs"); logprobs != choice.end() && logprobs->is_object()) {
            if (const auto tokens = logprobs->find("content"); tokens != logprobs->end() && tokens->is_array()) {
                for (const auto& token : *tokens) {
                    if (!token.is_object() || !token.contains("logprob") || !token["logprob"].is_number()) {
                        throw cascade::MalformedResponse("a token in logprobs.content has no numeric logprob");
                    }
                    reply.token_logprobs.push_back(token["logprob"].get<double>());
                }
            }
        }
        completion.choices.push_back(std::move(reply));
    }
    if (const auto usage = json.find("usage"); usage != json.end() && usage->is_object()) {
        completion.usage = cascade::TokenUsage{detail::token_count(*usage, "prompt_tokens"),
                                               detail::token_count(*usage, "completion_tokens")};
    }
    return completion;
}

/// One model behind one endpoint, as a cascade model: `ChatCompletion(const std::string& question,
/// const cascade::CallContext&)`. Calls may be made from several threads at once. Each call
/// borrows a libcurl handle from the client's pool and gives it back, so that sequential calls
/// reuse one connection (HTTP keep-alive) and calls at the same time each use their own; copies
/// of a client share the pool. Throws std::invalid_argument when endpoint.max_response_bytes is 0.
class ChatClient {
public:
    ChatClient(Endpoint endpoint, std::string model)
        : endpoint_(std::move(endpoint)), model_(std::move(model)), pool_(std::make_shared<detail::HandlePool>()) {
        if (endpoint_.max_response_bytes == 0) {
            throw std::invalid_argument("openai_cascade::ChatClient: " + endpoint_.max_response_bytes_name +
                                        " must be at least 1 byte");
        }
        while (!endpoint_.base_url.empty() && endpoint_.base_url.back() == '/') endpoint_.base_url.pop_back();
        url_ = endpoint_.base_url + "/chat/completions";
    }

    [[nodiscard]] const std::string& model() const noexcept { return model_; }
    [[nodiscard]] const std::string& url() const noexcept { return url_; }

    cascade::ChatCompletion operator()(const std::string& question, const cascade::CallContext& context) const {
        const std::string request = request_body(question, false);
        const auto timeout = timeout_for(context);
        detail::Lease handle(*pool_);
        if (handle.get() == nullptr) throw TransportError(model_ + ": libcurl could not create a request");
        const auto headers = header_list(false);
        detail::Transfer transfer;
        transfer.max_body = endpoint_.max_response_bytes;
        transfer.deadline = std::chrono::steady_clock::now() + timeout;
        transfer.context = &context;
        std::string retry_after;
        char error_text[CURL_ERROR_SIZE] = {};
        CURL* h = handle.get();
        set_common_options(h, request, headers.get(), timeout, retry_after, error_text);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &detail::append_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
        // A body whose Content-Length is over the limit is refused before any of it arrives.
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(std::min<std::size_t>(
                                                           transfer.max_body, std::size_t{1} << 62)));
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &detail::abort_if_cancelled);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);

        const CURLcode code = detail::perform(h, handle.multi(), &detail::abort_if_cancelled, &transfer);
        if (code != CURLE_OK) {
            throw_transfer_error(code, error_text, transfer.too_large || code == CURLE_FILESIZE_EXCEEDED,
                                 transfer.past_deadline, timeout);
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            cascade::throw_http_error(static_cast<int>(status), detail::error_message(transfer.body), retry_after,
                                      model_);
        }
        try {
            return parse_chat_completion(transfer.body);
        } catch (const cascade::MalformedResponse& e) {
            throw cascade::MalformedResponse(model_ + ": " + e.what());
        }
    }

    /// The same call with `"stream": true`: each token goes to `sink` as it arrives, and the whole
    /// completion is returned at the end, as operator() returns it (usage included: the request
    /// sets `stream_options.include_usage`).
    ///
    /// When the sink answers stop, or says stop_requested() between two chunks (an early-exit
    /// rule fired, the stream stalled, the cascade's deadline passed, the call lost a hedge race),
    /// the transfer is aborted at once, or within detail::stop_poll_interval (20 ms) while no data
    /// comes, and what has arrived is returned: a partial completion,
    /// which the cascade never takes as an answer but charges through the tier's cost function.
    /// A stream stopped before its first token throws cascade::StreamStopped instead: nothing was
    /// produced, and nothing is charged, as for a call cancelled without streaming.
    /// The server reports usage only at the end of a stream, so a partial completion's usage, when
    /// the server gave none, counts the tokens received as completion tokens and estimates the
    /// prompt tokens from the question's length (detail::estimated_prompt_tokens).
    ///
    /// A server that ignores `"stream": true` and answers one JSON completion (Content-Type
    /// application/json) is read as operator() reads it: the sink gets its tokens one by one with
    /// their log-probabilities when the body names them (logprobs.content[k].token), else its text
    /// as one chunk, and the whole completion is returned, the server's usage included.
    ///
    /// Throws as operator() does for an error status before the stream (a 429 with Retry-After is
    /// a cascade::RateLimited, a 5xx a cascade::HttpError: no token has passed yet, so a retry
    /// wrapper may call again), for the client's own timeout, an unreachable server or the size
    /// limit; cascade::StreamCut for a stream that ends before `data: [DONE]` (never an answer);
    /// cascade::MalformedStream for an event that is not a chat-completion chunk; and the error a
    /// server reports in the stream itself, as cascade::throw_http_error throws it.
    cascade::ChatCompletion stream(const std::string& question, cascade::TokenSink& sink,
                                   const cascade::CallContext& context) const {
        const std::string request = request_body(question, true);
        const auto timeout = timeout_for(context);
        detail::Lease handle(*pool_);
        if (handle.get() == nullptr) throw TransportError(model_ + ": libcurl could not create a request");
        const auto headers = header_list(true);
        detail::StreamTransfer transfer;
        transfer.handle = handle.get();
        transfer.sink = &sink;
        transfer.context = &context;
        transfer.deadline = std::chrono::steady_clock::now() + timeout;
        transfer.max_body = endpoint_.max_response_bytes;
        std::string retry_after;
        char error_text[CURL_ERROR_SIZE] = {};
        CURL* h = handle.get();
        set_common_options(h, request, headers.get(), timeout, retry_after, error_text);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &detail::feed_stream);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &detail::stop_stream_if_asked);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);

        const CURLcode code = detail::perform(h, handle.multi(), &detail::stop_stream_if_asked, &transfer);
        if (transfer.failure) rethrow_stream_error(transfer.failure);
        if (transfer.stopped) {
            // Stopped before the first token (a lost hedge race, the deadline while the server
            // thought): nothing to charge, as for a call cancelled without streaming.
            if (transfer.chunks == 0) {
                throw cascade::StreamStopped(model_ + ": stream stopped before its first token");
            }
            return partial(transfer, question);
        }
        if (code != CURLE_OK) throw_transfer_error(code, error_text, transfer.too_large, transfer.past_deadline, timeout);
        long status = transfer.status;
        if (status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            cascade::throw_http_error(static_cast<int>(status), detail::error_message(transfer.error_body),
                                      retry_after, model_);
        }
        if (transfer.whole) return whole(transfer.whole_body, sink);
        try {
            return transfer.parser.finish();
        } catch (...) {
            rethrow_stream_error(std::current_exception());
        }
    }

private:
    std::string request_body(const std::string& question, bool stream) const {
        nlohmann::json body{
            {"model", model_},
            {"messages", nlohmann::json::array({{{"role", "user"}, {"content", question}}})},
            {"max_tokens", endpoint_.max_tokens},
            {"temperature", 0},
        };
        if (endpoint_.logprobs) body["logprobs"] = true;
        if (stream) {
            body["stream"] = true;
            body["stream_options"] = {{"include_usage", true}};
        }
        return body.dump();
    }

    // The shorter of the client's timeout and the time the cascade has left for this tier.
    std::chrono::milliseconds timeout_for(const cascade::CallContext& context) const {
        auto timeout = endpoint_.timeout;
        if (context.remaining() < timeout) {
            timeout = std::max(std::chrono::milliseconds(1),
                               std::chrono::duration_cast<std::chrono::milliseconds>(context.remaining()));
        }
        return timeout;
    }

    std::unique_ptr<curl_slist, detail::ListDeleter> header_list(bool stream) const {
        std::unique_ptr<curl_slist, detail::ListDeleter> headers(
            curl_slist_append(nullptr, "Content-Type: application/json"));
        if (stream) headers.reset(curl_slist_append(headers.release(), "Accept: text/event-stream"));
        if (!endpoint_.api_key.empty()) {
            headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + endpoint_.api_key).c_str()));
        }
        if (!headers) throw TransportError(model_ + ": libcurl could not build the request's headers");
        return headers;
    }

    // The options both kinds of call set; the pool reset the handle after its previous call.
    void set_common_options(CURL* h, const std::string& request, curl_slist* headers,
                            std::chrono::milliseconds timeout, std::string& retry_after, char* error_text) const {
        curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &detail::keep_retry_after);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without signals: safe with threads
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);
    }

    [[noreturn]] void throw_transfer_error(CURLcode code, const char* error_text, bool too_large, bool past_deadline,
                                           std::chrono::milliseconds timeout) const {
        const std::string why = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
        if (too_large) {
            throw ResponseTooLarge(model_ + ": response larger than " + std::to_string(endpoint_.max_response_bytes) +
                                   " bytes (" + endpoint_.max_response_bytes_name + "); stopped there");
        }
        if (code == CURLE_OPERATION_TIMEDOUT || past_deadline) {
            throw TimedOut(model_ + ": no answer within " + std::to_string(timeout.count()) + " ms (" +
                           (past_deadline ? std::string("stopped at the deadline") : why) + ")");
        }
        if (code == CURLE_ABORTED_BY_CALLBACK) throw TransportError(model_ + ": cancelled, another tier answered");
        throw TransportError(model_ + ": cannot reach " + url_ + ": " + why);
    }

    // The parser's errors with the model's name in front, of the same type (a cut stream stays a
    // cascade::StreamCut); an error the server sent in the stream is rethrown as it is.
    [[noreturn]] void rethrow_stream_error(const std::exception_ptr& error) const {
        try {
            std::rethrow_exception(error);
        } catch (const cascade::StreamCut& e) {
            throw cascade::StreamCut(model_ + ": " + e.what(), e.event(), e.offset());
        } catch (const cascade::MalformedStream& e) {
            throw cascade::MalformedStream(model_ + ": " + e.what(), e.event(), e.offset());
        }
    }

    // The answer of a server that ignored `"stream": true` and sent one JSON completion: read as
    // operator() reads it, and handed to the sink token by token when the body names its tokens
    // (logprobs.content[k].token, with their log-probabilities) and they spell the text, else as
    // one chunk. Returned whole, with the server's usage, even when the sink answers stop: it is
    // all there, and the cascade charges what the server counted.
    cascade::ChatCompletion whole(const std::string& body, cascade::TokenSink& sink) const {
        cascade::ChatCompletion completion;
        try {
            completion = parse_chat_completion(body);
        } catch (const cascade::MalformedResponse& e) {
            throw cascade::MalformedResponse(model_ + ": " + e.what());
        }
        const cascade::ChatReply& reply = completion.choices.front();
        const std::vector<std::string> tokens = detail::token_texts(body);
        std::size_t spelled = 0;
        for (const auto& token : tokens) spelled += token.size();
        if (!tokens.empty() && tokens.size() == reply.token_logprobs.size() && spelled == reply.text.size()) {
            std::string joined;
            joined.reserve(spelled);
            for (const auto& token : tokens) joined += token;
            if (joined == reply.text) {
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    if (sink(tokens[i], reply.token_logprobs[i]) == cascade::StreamControl::stop) break;
                }
                return completion;
            }
        }
        if (!reply.text.empty()) (void)sink(reply.text);
        return completion;
    }

    // What a stopped stream produced, for the cascade to charge (see stream()).
    static cascade::ChatCompletion partial(const detail::StreamTransfer& transfer, const std::string& question) {
        cascade::ChatCompletion completion = transfer.parser.completion();
        if (!completion.usage) {
            const std::size_t scored = completion.choices.empty() ? 0 : completion.choices.front().token_logprobs.size();
            completion.usage = cascade::TokenUsage{detail::estimated_prompt_tokens(question),
                                                   static_cast<std::uint64_t>(std::max(scored, transfer.chunks))};
        }
        return completion;
    }

    Endpoint endpoint_;
    std::string model_;
    std::string url_;
    std::shared_ptr<detail::HandlePool> pool_;
};

/// A ChatClient that streams, as a cascade model: `ChatCompletion(const std::string& question,
/// cascade::TokenSink&, const cascade::CallContext&)` (see ChatClient::stream). A type of its own,
/// because a cascade calls a model that can answer whole that way, not streamed.
///
///     auto mini = cascade::tier("mini", StreamingChatClient(ChatClient(endpoint, "gpt-4o-mini")),
///                               cascade::verify::mean_token_prob(), 0.8)
///                     .with_early_exit(cascade::verify::stop_when_min_prob_below(0.05));
class StreamingChatClient {
public:
    explicit StreamingChatClient(ChatClient client) : client_(std::move(client)) {}

    [[nodiscard]] const ChatClient& client() const noexcept { return client_; }

    cascade::ChatCompletion operator()(const std::string& question, cascade::TokenSink& sink,
                                       const cascade::CallContext& context) const {
        return client_.stream(question, sink, context);
    }

private:
    ChatClient client_;
};

}  // namespace openai_cascade

#endif  // OPENAI_CASCADE_CHAT_CLIENT_HPP
