// SPDX-License-Identifier: MIT
// A small client for OpenAI-compatible /v1/chat/completions endpoints, on libcurl and
// nlohmann-json. It turns every way a call can go wrong into an exception that cascade's retry
// and escalation understand (see cascade/integration/chat_completion.hpp), and fills a cascade::ChatCompletion
// that the ready-made verifiers read.
#ifndef OPENAI_CASCADE_CHAT_CLIENT_HPP
#define OPENAI_CASCADE_CHAT_CLIENT_HPP

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <cascade/core/call_context.hpp>
#include <cascade/integration/chat_completion.hpp>

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
// the whole call's deadline on this side too, whatever the pace of the data: libcurl calls this
// at least once a second while a transfer runs.
inline int abort_if_cancelled(void* transfer, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(transfer);
    if (t.context != nullptr && t.context->cancel_requested()) return 1;
    if (std::chrono::steady_clock::now() >= t.deadline) {
        t.past_deadline = true;
        return 1;
    }
    return 0;
}

struct EasyDeleter {
    void operator()(CURL* handle) const noexcept { curl_easy_cleanup(handle); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

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
/// const cascade::CallContext&)`. Each call uses its own connection, so a client may be called
/// from several threads at once. Throws std::invalid_argument when endpoint.max_response_bytes is 0.
class ChatClient {
public:
    ChatClient(Endpoint endpoint, std::string model)
        : endpoint_(std::move(endpoint)), model_(std::move(model)) {
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
        const std::string request = nlohmann::json{
            {"model", model_},
            {"messages", nlohmann::json::array({{{"role", "user"}, {"content", question}}})},
            {"logprobs", true},
            {"max_tokens", endpoint_.max_tokens},
            {"temperature", 0},
        }.dump();

        // The shorter of the client's timeout and the time the cascade has left for this tier.
        auto timeout = endpoint_.timeout;
        if (context.remaining() < timeout) {
            timeout = std::max(std::chrono::milliseconds(1),
                               std::chrono::duration_cast<std::chrono::milliseconds>(context.remaining()));
        }

        std::unique_ptr<CURL, detail::EasyDeleter> handle(curl_easy_init());
        if (!handle) throw TransportError(model_ + ": libcurl could not create a request");
        std::unique_ptr<curl_slist, detail::ListDeleter> headers(
            curl_slist_append(nullptr, "Content-Type: application/json"));
        if (!endpoint_.api_key.empty()) {
            headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + endpoint_.api_key).c_str()));
        }
        detail::Transfer transfer;
        transfer.max_body = endpoint_.max_response_bytes;
        transfer.deadline = std::chrono::steady_clock::now() + timeout;
        transfer.context = &context;
        std::string retry_after;
        char error_text[CURL_ERROR_SIZE] = {};
        CURL* h = handle.get();
        curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &detail::append_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
        // A body whose Content-Length is over the limit is refused before any of it arrives.
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(std::min<std::size_t>(
                                                           transfer.max_body, std::size_t{1} << 62)));
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &detail::keep_retry_after);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without signals: safe with threads
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &detail::abort_if_cancelled);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);

        const CURLcode code = curl_easy_perform(h);
        if (code != CURLE_OK) {
            const std::string why = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
            if (transfer.too_large || code == CURLE_FILESIZE_EXCEEDED) {
                throw ResponseTooLarge(model_ + ": response larger than " + std::to_string(transfer.max_body) +
                                       " bytes (" + endpoint_.max_response_bytes_name + "); stopped there");
            }
            if (code == CURLE_OPERATION_TIMEDOUT || transfer.past_deadline) {
                throw TimedOut(model_ + ": no answer within " + std::to_string(timeout.count()) + " ms (" +
                               (transfer.past_deadline ? std::string("stopped at the deadline") : why) + ")");
            }
            if (code == CURLE_ABORTED_BY_CALLBACK) throw TransportError(model_ + ": cancelled, another tier answered");
            throw TransportError(model_ + ": cannot reach " + url_ + ": " + why);
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

private:
    Endpoint endpoint_;
    std::string model_;
    std::string url_;
};

}  // namespace openai_cascade

#endif  // OPENAI_CASCADE_CHAT_CLIENT_HPP
