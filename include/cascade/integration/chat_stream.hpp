// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_CHAT_STREAM_HPP
#define CASCADE_INTEGRATION_CHAT_STREAM_HPP

// A streamed chat completion (`"stream": true`) read without a dependency: the Server-Sent Events
// of `chat.completion.chunk` objects that OpenAI-compatible servers send, ended by `data: [DONE]`.
// The HTTP client hands over the body's bytes as they arrive; the parser hands each token to a
// cascade::TokenSink (or any callable) and builds the cascade::ChatCompletion that the same
// request without streaming would have returned.

#include "chat_completion.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../core/token_sink.hpp"
#include "../detail/json.hpp"
#include "../runtime/retry_hints.hpp"

namespace cascade {

/// Limits and rules of a cascade::ChatStreamParser.
struct ChatStreamOptions {
    /// The most bytes one event may hold: its `data` lines joined, plus the line being read. A
    /// server that never sends a line end would otherwise grow the buffer without bound. The
    /// default, 1 MiB, is far above any one chunk of a chat completion.
    std::size_t max_event_bytes = std::size_t{1} << 20;
    /// Whether a stream is complete only once `data: [DONE]` arrived. With false, a stream that
    /// ends after its first choice's finish reason but before [DONE] is accepted too (its usage,
    /// sent between the two when `stream_options.include_usage` is set, may then be missing).
    bool require_done = true;
};

/// A streamed reply that is not a usable chat-completion stream: an event that is not JSON, a
/// field of the wrong type, an event larger than ChatStreamOptions::max_event_bytes, or an
/// error the server sent without an HTTP status. A cascade::MalformedResponse, so it is retried
/// and then escalated. event() is the 1-based number of the event at fault, offset() the byte of
/// the stream where that event starts.
class MalformedStream : public MalformedResponse {
public:
    MalformedStream(const std::string& what, std::size_t event, std::uint64_t offset)
        : MalformedResponse(what),
          event_(event),
          offset_(offset) {}

    [[nodiscard]] std::size_t event() const noexcept { return event_; }
    [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }

private:
    std::size_t event_;
    std::uint64_t offset_;
};

/// A stream that ended before it was complete: without `data: [DONE]`, without a finish reason,
/// or inside an event. Some gateways end a cut upstream connection with a clean 200, so this is
/// the only sign of it. A cascade::MalformedResponse, not a cascade::NotRetryable: a cut
/// connection is transient, so a retry policy may call again and a circuit breaker counts it.
/// event() is the number of events read, offset() the length of the stream.
class StreamCut : public MalformedStream {
public:
    using MalformedStream::MalformedStream;
};

/// A stream that ended because its sink answered cascade::StreamControl::stop (an early-exit
/// rule, a stall, a deadline, a lost hedge race). Not an answer: a cascade::NotRetryable, so it
/// is not retried, and a circuit breaker does not count it for what it is, but for why the sink
/// stopped it (TokenSink::stop_cause(): a stall is the server's failure).
class StreamStopped : public NotRetryable {
public:
    using NotRetryable::NotRetryable;
};

namespace detail {

template <class T, class = void>
struct chat_stream_sink_polls : std::false_type {};
template <class T>
struct chat_stream_sink_polls<T, std::void_t<decltype(static_cast<bool>(std::declval<T&>().stop_requested()))>>
    : std::true_type {};

// Whether feed() takes F: callable with a chunk, answering StreamControl or nothing.
template <class F, class = void>
struct chat_stream_accepts : std::false_type {};
template <class F>
struct chat_stream_accepts<F, std::enable_if_t<std::is_invocable_v<F&, const TokenChunk&>>>
    : std::bool_constant<std::is_same_v<std::invoke_result_t<F&, const TokenChunk&>, StreamControl> ||
                         std::is_void_v<std::invoke_result_t<F&, const TokenChunk&>>> {};

}  // namespace detail

/// Reads a streamed chat completion from the bytes of its HTTP body, in pieces of any size as
/// they arrive: an event, a line, even a CR LF pair may be split between two feeds.
///
///     cascade::ChatStreamParser parser;
///     // in the HTTP client's write callback, for each piece of the body:
///     if (parser.feed(piece, sink) == cascade::StreamControl::stop) return 0;  // abort the transfer
///     // when the transfer ends:
///     cascade::ChatCompletion c = parser.finish();  // or throws StreamCut, StreamStopped, ...
///
/// The events follow the Server-Sent Events format: lines end in LF, CR LF or CR; `data:`
/// lines (one space after the colon is dropped) of one event are joined with "\n"; a blank line
/// ends the event; lines starting with ':' (keep-alives) are skipped; `id:` and `retry:` are kept
/// (last_event_id(), retry_ms()); a UTF-8 byte order mark at the start is skipped. An event named
/// `error` (`event: error`) is the server's error; events with other names than `message` are
/// skipped, as the chat-completions protocol names none.
///
/// Each event's data is `[DONE]` (the end) or one `chat.completion.chunk` object. Only the first
/// choice (`index` 0) is read: `delta.content` is appended to the text, each entry of
/// `logprobs.content` to the log-probabilities (request `logprobs: true`), and `finish_reason`,
/// `id`, `model` and `usage` (the last chunk when `stream_options.include_usage` is set, with
/// empty `choices`) are kept. The sink gets one cascade::TokenChunk per `logprobs.content` entry
/// (its `token` and `logprob`), or, when the chunk has none, one chunk with the delta's text and
/// no log-probability; a delta without text (the first one, with only `role`) gives none. An
/// `{"error": {...}}` chunk is the server's error: thrown as cascade::throw_http_error does when
/// its `code` is an HTTP status from 400 to 599, else as a cascade::MalformedStream.
///
/// Every error names the event's number and the byte where it starts, and leaves the parser
/// failed: later calls throw the same error again. Each event's JSON is parsed into a
/// cascade::detail::JsonValue, which allocates; beyond that, reading a token allocates nothing
/// but the amortized growth of the text and the log-probabilities.
///
/// Not thread-safe: one stream, read by one thread at a time.
class ChatStreamParser {
public:
    /// Throws std::invalid_argument when max_event_bytes is 0.
    explicit ChatStreamParser(ChatStreamOptions options = {}) : options_(options) {
        if (options_.max_event_bytes == 0) {
            throw std::invalid_argument("cascade::ChatStreamParser: max_event_bytes must be at least 1 (bytes)");
        }
        completion_.choices.emplace_back();
    }

    /// Reads the next piece of the body without handing tokens anywhere; they are only kept for
    /// finish(). Returns go_on, or stop once a sink has answered stop.
    StreamControl feed(std::string_view bytes) { return feed_impl(bytes, nullptr, nullptr); }

    /// Reads the next piece of the body and hands every token it completes to `on_chunk`, a
    /// cascade::TokenSink or any callable as `StreamControl(const cascade::TokenChunk&)` or
    /// `void(const cascade::TokenChunk&)`. The chunks' text views are valid during the call only.
    /// Returns stop as soon as `on_chunk` answers stop (or, for a sink, stop_requested() is true
    /// when the piece arrives): end the transfer then; later pieces are ignored, and finish()
    /// throws cascade::StreamStopped. Throws cascade::MalformedStream (or an HTTP error, see above)
    /// for a malformed or error event, and rethrows what `on_chunk` throws.
    template <class OnChunk>
    StreamControl feed(std::string_view bytes, OnChunk&& on_chunk) {
        using F = std::remove_reference_t<OnChunk>;
        constexpr bool accepted = detail::chat_stream_accepts<F>::value;
        static_assert(accepted,
                      "cascade::ChatStreamParser::feed: on_chunk must be callable as "
                      "cascade::StreamControl(const cascade::TokenChunk&) or void(const cascade::TokenChunk&), "
                      "as a cascade::TokenSink is");
        if constexpr (accepted) {
            if constexpr (detail::chat_stream_sink_polls<F>::value) {
                // Not once the answer is complete: what follows its finish reason (the usage,
                // [DONE]) may come late, and the answer is no less whole for it.
                if (!failure_ && !finished_ && !answer_complete() && on_chunk.stop_requested()) stopped_ = true;
            }
            void* owner = const_cast<void*>(static_cast<const void*>(std::addressof(on_chunk)));
            return feed_impl(bytes, owner, [](void* self, const TokenChunk& chunk) {
                F& f = *static_cast<F*>(self);
                if constexpr (std::is_void_v<std::invoke_result_t<F&, const TokenChunk&>>) {
                    f(chunk);
                    return StreamControl::go_on;
                } else {
                    return f(chunk);
                }
            });
        } else {
            return StreamControl::stop;
        }
    }

    /// Called once, when the transfer ends: the whole completion, with one choice. Throws
    /// cascade::StreamStopped after a stop; cascade::StreamCut when the stream is not complete:
    /// no `[DONE]` (unless require_done is false), no finish reason, or an event never ended by
    /// its blank line (but a last `data: [DONE]` without one is accepted); and rethrows an error
    /// that feed() threw.
    ChatCompletion finish() {
        if (failure_) std::rethrow_exception(failure_);
        if (finished_) throw std::logic_error("cascade::ChatStreamParser::finish: called twice for one stream");
        finished_ = true;
        if (stopped_) {
            throw StreamStopped("chat stream: stopped by its sink after " + std::to_string(events_) + " events (" +
                                std::to_string(consumed_) + " bytes); the partial answer is not an answer");
        }
        try {
            end_of_stream();
        } catch (...) {
            failure_ = std::current_exception();
            throw;
        }
        return std::move(completion_);
    }

    /// What was read before a stop, as a completion to charge: the cascade never takes a stopped
    /// stream's reply as an answer, but the tier's cost prices it (return it from the model when
    /// stopped(), instead of calling finish()). Its usage is the server's when it came; else
    /// completion_tokens is the chunks read (a token each when the server gave log-probabilities,
    /// else a delta each, of one token or more) and prompt_tokens is 0: a server reports the
    /// prompt's tokens only at the end of a stream, so set them from your request, or an estimate
    /// of it, for the prompt to be charged too.
    [[nodiscard]] ChatCompletion partial() const {
        ChatCompletion reply = completion_;
        if (!reply.usage) reply.usage = TokenUsage{0, chunks_};
        return reply;
    }

    /// What has been read so far (one choice); finish() moves it out.
    [[nodiscard]] const ChatCompletion& completion() const noexcept { return completion_; }
    /// True once `data: [DONE]` has arrived.
    [[nodiscard]] bool done() const noexcept { return done_; }
    /// True once a sink has answered stop.
    [[nodiscard]] bool stopped() const noexcept { return stopped_; }
    /// The events dispatched so far ([DONE] included, comments and empty events not).
    [[nodiscard]] std::size_t events() const noexcept { return events_; }
    /// The bytes fed so far.
    [[nodiscard]] std::uint64_t bytes() const noexcept { return consumed_; }
    /// The last `id:` field, for a reconnecting client's Last-Event-ID; empty when none came.
    [[nodiscard]] const std::string& last_event_id() const noexcept { return last_event_id_; }
    /// The last valid `retry:` field, in milliseconds.
    [[nodiscard]] std::optional<std::uint64_t> retry_ms() const noexcept { return retry_ms_; }

private:
    // Whether the answer is whole: a finish reason or [DONE] has come.
    [[nodiscard]] bool answer_complete() const noexcept {
        return done_ || (!completion_.choices.empty() && !completion_.choices.front().finish_reason.empty());
    }

    using Type = detail::JsonValue::Type;
    using EmitFn = StreamControl (*)(void*, const TokenChunk&);

    StreamControl feed_impl(std::string_view bytes, void* owner, EmitFn emit) {
        if (failure_) std::rethrow_exception(failure_);
        if (finished_) throw std::logic_error("cascade::ChatStreamParser::feed: called after finish()");
        const std::uint64_t base = consumed_;
        consumed_ += bytes.size();
        if (stopped_) return StreamControl::stop;
        if (done_) return StreamControl::go_on;  // whatever follows [DONE] is not read
        try {
            return consume(bytes, base, owner, emit);
        } catch (...) {
            failure_ = std::current_exception();
            throw;
        }
    }

    StreamControl consume(std::string_view bytes, std::uint64_t base, void* owner, EmitFn emit) {
        static constexpr std::string_view bom = "\xEF\xBB\xBF";
        std::size_t i = 0;
        while (at_start_ && i < bytes.size()) {
            if (bytes[i] == bom[bom_matched_]) {
                ++i;
                if (++bom_matched_ == bom.size()) at_start_ = false;
            } else {
                at_start_ = false;
                line_.append(bom.data(), bom_matched_);
            }
        }
        while (i < bytes.size()) {
            if (pending_cr_) {
                pending_cr_ = false;
                if (bytes[i] == '\n') {
                    ++i;
                    continue;
                }
            }
            if (line_.empty()) line_start_ = base + i;
            std::size_t end = i;
            while (end < bytes.size() && bytes[end] != '\n' && bytes[end] != '\r') ++end;
            const std::string_view piece = bytes.substr(i, end - i);
            check_size(line_.size() + piece.size());
            if (end == bytes.size()) {
                line_.append(piece.data(), piece.size());
                break;
            }
            pending_cr_ = bytes[end] == '\r';
            i = end + 1;
            StreamControl control = StreamControl::go_on;
            if (line_.empty()) {
                control = process_line(piece, owner, emit);
            } else {
                line_.append(piece.data(), piece.size());
                control = process_line(line_, owner, emit);
                line_.clear();
            }
            if (control == StreamControl::stop) {
                stopped_ = true;
                return StreamControl::stop;
            }
            if (done_) break;
        }
        return StreamControl::go_on;
    }

    void check_size(std::size_t line_bytes) const {
        if (data_.size() + line_bytes > options_.max_event_bytes) {
            const std::uint64_t start = in_event_ ? event_start_ : line_start_;
            throw MalformedStream(where(events_ + 1, start) + "longer than max_event_bytes (" +
                                      std::to_string(options_.max_event_bytes) +
                                      " bytes) before its end; a server that sends no line end, or raise "
                                      "ChatStreamOptions::max_event_bytes",
                                  events_ + 1, start);
        }
    }

    StreamControl process_line(std::string_view line, void* owner, EmitFn emit) {
        if (line.empty()) return dispatch(owner, emit);
        if (line.front() == ':') return StreamControl::go_on;
        const std::size_t colon = line.find(':');
        const std::string_view field = line.substr(0, colon);
        std::string_view value;
        if (colon != std::string_view::npos) {
            value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        }
        if (!in_event_) {
            in_event_ = true;
            event_start_ = line_start_;
        }
        if (field == "data") {
            if (data_lines_ > 0) data_.push_back('\n');
            data_.append(value.data(), value.size());
            ++data_lines_;
        } else if (field == "event") {
            event_name_.assign(value.data(), value.size());
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_event_id_.assign(value.data(), value.size());
        } else if (field == "retry") {
            std::uint64_t ms = 0;
            bool digits = !value.empty();
            for (const char ch : value) {
                if (ch < '0' || ch > '9') {
                    digits = false;
                    break;
                }
                if (ms < std::uint64_t{1} << 50) ms = ms * 10 + static_cast<std::uint64_t>(ch - '0');
            }
            if (digits) retry_ms_ = ms;
        }
        return StreamControl::go_on;
    }

    StreamControl dispatch(void* owner, EmitFn emit) {
        in_event_ = false;
        if (data_lines_ == 0) {
            event_name_.clear();
            return StreamControl::go_on;
        }
        ++events_;
        const StreamControl control = handle_event(owner, emit);
        data_.clear();
        data_lines_ = 0;
        event_name_.clear();
        return control;
    }

    std::string where(std::size_t event, std::uint64_t offset) const {
        return "chat stream: event " + std::to_string(event) + " (at byte " + std::to_string(offset) + "): ";
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw MalformedStream(where(events_, event_start_) + what, events_, event_start_);
    }

    StreamControl handle_event(void* owner, EmitFn emit) {
        if (!event_name_.empty() && event_name_ != "message") {
            if (event_name_ != "error") return StreamControl::go_on;
            detail::JsonValue error;
            try {
                error = detail::parse_json(data_);
            } catch (const detail::JsonError&) {
                server_error(detail::JsonValue(data_));
            }
            const detail::JsonValue* inner = error.find("error");
            server_error(inner != nullptr ? *inner : error);
        }
        if (detail::trim_ascii(data_) == "[DONE]") {
            done_ = true;
            return StreamControl::go_on;
        }
        detail::JsonValue chunk;
        try {
            chunk = detail::parse_json(data_);
        } catch (const detail::JsonError& e) {
            fail("its data is not JSON: " + e.reason() + " at byte " + std::to_string(e.offset()) + " of the data (" +
                 std::to_string(data_.size()) + " bytes)");
        }
        return handle_chunk(chunk, owner, emit);
    }

    [[noreturn]] void server_error(const detail::JsonValue& error) const {
        std::string message;
        std::optional<int> status;
        if (error.is_string()) {
            message = error.as_string();
        } else if (const detail::JsonValue* text = error.find("message"); text != nullptr && text->is_string()) {
            message = text->as_string();
        } else {
            message = error.dump();
        }
        if (const detail::JsonValue* code = error.find("code")) {
            double number = -1.0;
            if (code->is_number()) {
                number = code->as_number();
            } else if (code->is_string() && code->as_string().size() == 3) {
                std::int64_t digits = 0;
                if (detail::read_digits(code->as_string(), digits)) number = static_cast<double>(digits);
            }
            if (number >= 400.0 && number <= 599.0 && number == static_cast<double>(static_cast<int>(number))) {
                status = static_cast<int>(number);
            }
        }
        const std::string source = where(events_, event_start_) + "the server sent an error";
        if (status) throw_http_error(*status, message, {}, source);
        throw MalformedStream(source + ": " + message, events_, event_start_);
    }

    // A member of `object` of type `type`; nullptr when it is absent or null. `path` names the
    // object in a message, built only when the type is wrong.
    template <class Path>
    const detail::JsonValue* member(const detail::JsonValue& object, std::string_view key, Type type,
                                    const Path& path) const {
        const detail::JsonValue* value = object.find(key);
        if (value == nullptr || value->is_null()) return nullptr;
        if (value->type() != type) {
            fail(path() + std::string(key) + " is " + std::string(detail::JsonValue::type_name(value->type())) +
                 ", expected " + std::string(detail::JsonValue::type_name(type)) + " or null");
        }
        return value;
    }

    template <class Path>
    std::uint64_t token_count(const detail::JsonValue& usage, std::string_view key, const Path& path) const {
        const detail::JsonValue* value = member(usage, key, Type::number, path);
        if (value == nullptr) return 0;
        const double n = value->as_number();
        // Counts a double holds exactly; anything else is not a count of tokens.
        if (!(n >= 0.0 && n <= 9007199254740992.0) || n != static_cast<double>(static_cast<std::uint64_t>(n))) {
            fail(path() + std::string(key) + " is not a token count: " + value->dump());
        }
        return static_cast<std::uint64_t>(n);
    }

    StreamControl handle_chunk(const detail::JsonValue& chunk, void* owner, EmitFn emit) {
        if (!chunk.is_object()) {
            fail("its data is " + std::string(detail::JsonValue::type_name(chunk.type())) +
                 ", expected a chat.completion.chunk object or [DONE]");
        }
        const auto top = [] { return std::string(); };
        if (const detail::JsonValue* error = chunk.find("error"); error != nullptr && !error->is_null()) {
            server_error(*error);
        }
        if (const detail::JsonValue* id = member(chunk, "id", Type::string, top)) completion_.id = id->as_string();
        if (const detail::JsonValue* model = member(chunk, "model", Type::string, top)) {
            completion_.model = model->as_string();
        }
        if (const detail::JsonValue* usage = member(chunk, "usage", Type::object, top)) {
            const auto path = [] { return std::string("usage."); };
            completion_.usage =
                TokenUsage{token_count(*usage, "prompt_tokens", path), token_count(*usage, "completion_tokens", path)};
        }
        const detail::JsonValue* choices = member(chunk, "choices", Type::array, top);
        if (choices == nullptr) return StreamControl::go_on;
        ChatReply& reply = completion_.choices.front();
        const detail::JsonValue::Array& list = choices->as_array();
        // First every choice is checked and kept, so that a sink never gets tokens of an event
        // that turns out malformed; then the tokens go out.
        for (std::size_t k = 0; k < list.size(); ++k) {
            const detail::JsonValue& choice = list[k];
            const auto at = [k] { return "choices[" + std::to_string(k) + "]."; };
            if (!choice.is_object()) {
                fail("choices[" + std::to_string(k) + "] is " +
                     std::string(detail::JsonValue::type_name(choice.type())) + ", expected an object");
            }
            if (!first_choice(choice, at)) continue;
            if (const detail::JsonValue* delta = member(choice, "delta", Type::object, at)) {
                const auto in_delta = [&at] { return at() + "delta."; };
                if (const detail::JsonValue* content = member(*delta, "content", Type::string, in_delta)) {
                    reply.text += content->as_string();
                }
            }
            if (const detail::JsonValue* entries = token_entries(choice, at)) {
                const detail::JsonValue::Array& tokens = entries->as_array();
                for (std::size_t t = 0; t < tokens.size(); ++t) {
                    const auto in_entry = [&at, t] { return at() + "logprobs.content[" + std::to_string(t) + "]."; };
                    if (!tokens[t].is_object()) {
                        fail(in_entry().substr(0, in_entry().size() - 1) + " is " +
                             std::string(detail::JsonValue::type_name(tokens[t].type())) + ", expected an object");
                    }
                    member(tokens[t], "token", Type::string, in_entry);
                    const detail::JsonValue* logprob = member(tokens[t], "logprob", Type::number, in_entry);
                    if (logprob == nullptr) fail(in_entry() + "logprob is missing");
                    reply.token_logprobs.push_back(logprob->as_number());
                }
            }
            if (const detail::JsonValue* reason = member(choice, "finish_reason", Type::string, at)) {
                reply.finish_reason = reason->as_string();
            }
        }
        if (emit == nullptr) return StreamControl::go_on;
        for (const detail::JsonValue& choice : list) {
            if (!first_choice(choice, top)) continue;
            const detail::JsonValue* entries = token_entries(choice, top);
            if (entries != nullptr && !entries->as_array().empty()) {
                for (const detail::JsonValue& entry : entries->as_array()) {
                    const detail::JsonValue* token = entry.find("token");
                    const std::string_view text = token != nullptr && token->is_string()
                                                      ? std::string_view(token->as_string())
                                                      : std::string_view();
                    // Checked above: every entry has a numeric logprob.
                    const detail::JsonValue* logprob = entry.find("logprob");
                    const std::optional<double> value = logprob != nullptr && logprob->is_number()
                                                            ? std::optional<double>(logprob->as_number())
                                                            : std::nullopt;
                    ++chunks_;
                    if (emit(owner, TokenChunk{text, value}) == StreamControl::stop) {
                        return StreamControl::stop;
                    }
                }
                continue;
            }
            const detail::JsonValue* delta = choice.find("delta");
            const detail::JsonValue* content = delta != nullptr ? delta->find("content") : nullptr;
            if (content != nullptr && content->is_string() && !content->as_string().empty()) {
                ++chunks_;
                if (emit(owner, TokenChunk{content->as_string(), std::nullopt}) == StreamControl::stop) {
                    return StreamControl::stop;
                }
            }
        }
        return StreamControl::go_on;
    }

    // Whether `choice` is the first one (index 0, or no index, as a server streaming one choice
    // may send).
    template <class Path>
    bool first_choice(const detail::JsonValue& choice, const Path& at) const {
        const detail::JsonValue* index = member(choice, "index", Type::number, at);
        return index == nullptr || index->as_number() == 0.0;
    }

    // The `logprobs.content` array of a choice; nullptr when the server gave none.
    template <class Path>
    const detail::JsonValue* token_entries(const detail::JsonValue& choice, const Path& at) const {
        const detail::JsonValue* logprobs = member(choice, "logprobs", Type::object, at);
        if (logprobs == nullptr) return nullptr;
        return member(*logprobs, "content", Type::array, [&at] { return at() + "logprobs."; });
    }

    void end_of_stream() {
        if (!done_ && !line_.empty()) {
            // A last line without its line end: read it, but it cannot end an event.
            process_line(line_, nullptr, nullptr);
            line_.clear();
        }
        if (!done_ && data_lines_ > 0) {
            if (event_name_.empty() && detail::trim_ascii(data_) == "[DONE]") {
                ++events_;
                done_ = true;
            } else {
                throw StreamCut(where(events_ + 1, event_start_) + "the stream ended inside this event (" +
                                    std::to_string(consumed_ - event_start_) +
                                    " bytes without the blank line that ends an event): the reply was cut",
                                events_ + 1, event_start_);
            }
        }
        const std::string& reason = completion_.choices.front().finish_reason;
        const std::string summary = "chat stream: ended after " + std::to_string(events_) + " events (" +
                                    std::to_string(consumed_) + " bytes, " +
                                    std::to_string(completion_.choices.front().text.size()) + " bytes of text) ";
        if (!done_ && options_.require_done) {
            if (reason.empty())
                throw StreamCut(summary + "without a finish reason or [DONE]: the reply was cut", events_, consumed_);
            throw StreamCut(
                summary + "with the finish reason \"" + reason +
                    "\" but without data: [DONE]; ChatStreamOptions::require_done = false accepts such streams",
                events_, consumed_);
        }
        if (reason.empty()) throw StreamCut(summary + "without a finish reason: the reply was cut", events_, consumed_);
    }

    ChatStreamOptions options_;
    ChatCompletion completion_;
    std::string line_;        // the line being read, when it spans pieces
    std::string data_;        // the current event's data lines, joined by "\n"
    std::string event_name_;  // the current event's `event:` field
    std::string last_event_id_;
    std::optional<std::uint64_t> retry_ms_;
    std::exception_ptr failure_;
    std::uint64_t consumed_ = 0;     // bytes fed so far
    std::uint64_t line_start_ = 0;   // where the line being read starts
    std::uint64_t event_start_ = 0;  // where the current (or last dispatched) event starts
    std::size_t events_ = 0;
    std::uint64_t chunks_ = 0;  // the chunks handed to a sink
    std::size_t data_lines_ = 0;
    std::size_t bom_matched_ = 0;
    bool at_start_ = true;
    bool pending_cr_ = false;  // the last piece ended in CR: an LF at the start of the next is its pair
    bool in_event_ = false;
    bool done_ = false;
    bool stopped_ = false;
    bool finished_ = false;
};

}  // namespace cascade

#endif  // CASCADE_INTEGRATION_CHAT_STREAM_HPP
