// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_TOKEN_TRACE_HPP
#define CASCADE_EVAL_TOKEN_TRACE_HPP

#include <cmath>
#include <cstddef>
#include <fstream>
#include <istream>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/line_reader.hpp"
#include "outcome_log.hpp"
#include "../detail/json.hpp"
#include "../detail/number.hpp"
#include "../core/parse_error.hpp"

// Logged token streams: the log-probability of every token of an answer, for replaying the
// early-exit rules of a streaming cascade (early_exit_replay.hpp) without calling any model.
namespace cascade {

/// The tokens of one logged answer: the natural log of each token's probability, in order.
/// -inf is a token of probability 0.
struct TokenTrace {
    std::string query_id;
    std::string model;
    std::vector<double> logprobs;
    /// The 1-based line the trace was read from (0 for traces made in code).
    std::size_t line = 0;
};

/// The token traces of a log, kept beside its outcome rows rather than in them: most rows of
/// most logs have none, and an OutcomeTable stays the same size whether they do or not. Looked
/// up by (query_id, model), the key of an outcome row.
///
///     auto traces = cascade::read_token_traces("outcomes.jsonl");   // or a side file for a CSV log
///     if (const cascade::TokenTrace* t = traces.find("q1", "gpt-4o-mini")) { /* t->logprobs */ }
///
/// Thread-safety: const members may be called from many threads; add() may not.
class TokenTraces {
public:
    TokenTraces() = default;
    explicit TokenTraces(std::string source) : source_(std::move(source)) {}

    /// Adds a trace. Throws cascade::ParseError (naming the source and `line`) for an empty
    /// query_id or model, a second trace of the same (query_id, model), no tokens, or a value that
    /// is not a log-probability (NaN, or above 1e-6; (0, 1e-6] is read as 0, as
    /// cascade::StreamState reads it).
    void add(std::string query_id, std::string model, std::vector<double> logprobs, std::size_t line = 0) {
        if (query_id.empty()) fail(line, "query_id is empty");
        if (model.empty()) fail(line, "model is empty");
        if (logprobs.empty()) {
            fail(line, "token_logprobs is empty; leave the field out for an answer without token data");
        }
        for (std::size_t i = 0; i < logprobs.size(); ++i) {
            const double lp = logprobs[i];
            if (std::isnan(lp) || lp > positive_tolerance) {
                fail(line, "token_logprobs[" + std::to_string(i) + "] is " + detail::format_number(lp) +
                               ", not a log-probability (a number <= 0, or \"-inf\" or null for probability 0)");
            }
            if (lp > 0.0) logprobs[i] = 0.0;
        }
        const auto [it, inserted] = index_.try_emplace(key(query_id, model), traces_.size());
        if (!inserted) {
            fail(line, "a second token trace for query \"" + query_id + "\" and model \"" + model +
                           "\" (first on line " + std::to_string(traces_[it->second].line) + ")");
        }
        traces_.push_back(TokenTrace{std::move(query_id), std::move(model), std::move(logprobs), line});
        tokens_ += traces_.back().logprobs.size();
    }

    /// The trace of (query_id, model); nullptr when there is none.
    [[nodiscard]] const TokenTrace* find(std::string_view query_id, std::string_view model) const {
        const auto it = index_.find(key(query_id, model));
        return it == index_.end() ? nullptr : &traces_[it->second];
    }

    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    [[nodiscard]] std::size_t size() const noexcept { return traces_.size(); }
    [[nodiscard]] bool empty() const noexcept { return traces_.empty(); }
    /// Tokens over all traces.
    [[nodiscard]] std::size_t tokens() const noexcept { return tokens_; }
    /// The traces in the order they were added.
    [[nodiscard]] const std::vector<TokenTrace>& traces() const noexcept { return traces_; }
    /// Lines read that had no token data (outcome rows without `token_logprobs`).
    [[nodiscard]] std::size_t rows_without_tokens() const noexcept { return without_; }
    void count_row_without_tokens() noexcept { ++without_; }

private:
    static constexpr double positive_tolerance = 1e-6;

    [[noreturn]] void fail(std::size_t line, std::string reason) const {
        throw ParseError(source_, line, std::move(reason));
    }

    // The query's length first, so that no two (query, model) pairs make the same key.
    static std::string key(std::string_view query_id, std::string_view model) {
        std::string k = std::to_string(query_id.size());
        k += ':';
        k.append(query_id);
        k.append(model);
        return k;
    }

    std::string source_;
    std::vector<TokenTrace> traces_;
    std::unordered_map<std::string, std::size_t> index_;
    std::size_t tokens_ = 0;
    std::size_t without_ = 0;
};

/// Reads token traces from JSON Lines: one object per line with `query_id`, `model` and
/// `token_logprobs`, an array of the answer's token log-probabilities in order. Other keys are
/// ignored, so a JSON Lines outcome log that carries `token_logprobs` in its rows is read as it
/// is; for a CSV log, put the traces in a side file of lines like
///
///     {"query_id": "q1", "model": "gpt-4o-mini", "token_logprobs": [-0.01, -0.2, "-inf", null]}
///
/// JSON has no infinity: a token of probability 0 is the string "-inf" or null. A line without
/// `token_logprobs` (or with null there) is an answer without token data: skipped and counted in
/// rows_without_tokens(). Blank lines are skipped.
///
/// Throws cascade::ParseError (`source:line: reason`) for invalid JSON, a line that is not an
/// object, a missing or non-string query_id or model, a `token_logprobs` that is not an array or
/// is empty, an entry that is not a number <= 0, "-inf" or null (naming its index), a second trace
/// of the same (query_id, model), a line longer than max_line_bytes, and an input without lines.
inline TokenTraces read_token_traces(std::istream& in, std::string source,
                                     std::size_t max_line_bytes = detail::default_max_record_bytes) {
    using detail::JsonValue;
    TokenTraces traces(source);
    detail::LineReader lines(in, source, max_line_bytes);
    std::string text;
    std::size_t line = 0;
    bool any_line = false;
    JsonValue v;
    std::vector<double> logprobs;
    auto fail = [&](std::string reason) { throw ParseError(source, line, std::move(reason)); };
    while (lines.next(text)) {
        line = lines.line();
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        any_line = true;
        try {
            v = detail::parse_json(text);
        } catch (const detail::JsonError& e) {
            fail("invalid JSON at column " + std::to_string(e.offset() + 1) + ": " + e.reason());
        }
        if (!v.is_object()) fail("expected a JSON object, got " + std::string(JsonValue::type_name(v.type())));
        auto id = [&](const char* name) -> std::string {
            const JsonValue* x = v.find(name);
            if (!x || x->is_null()) fail("no \"" + std::string(name) + "\"");
            if (!x->is_string()) {
                fail("\"" + std::string(name) + "\" must be a string, got " +
                     std::string(JsonValue::type_name(x->type())));
            }
            return x->as_string();
        };
        const JsonValue* tokens = v.find("token_logprobs");
        if (!tokens || tokens->is_null()) {
            traces.count_row_without_tokens();
            continue;
        }
        std::string query_id = id("query_id");
        std::string model = id("model");
        if (!tokens->is_array()) {
            fail("\"token_logprobs\" must be an array of log-probabilities, got " +
                 std::string(JsonValue::type_name(tokens->type())));
        }
        logprobs.clear();
        const JsonValue::Array& items = tokens->as_array();
        for (std::size_t i = 0; i < items.size(); ++i) {
            const JsonValue& x = items[i];
            if (x.is_number()) {
                logprobs.push_back(x.as_number());
            } else if (x.is_null() || (x.is_string() && x.as_string() == "-inf")) {
                logprobs.push_back(-std::numeric_limits<double>::infinity());
            } else {
                fail("token_logprobs[" + std::to_string(i) + "] is " +
                     (x.is_string() ? detail::quoted(x.as_string()) : std::string(JsonValue::type_name(x.type()))) +
                     ", not a log-probability (a number <= 0, or \"-inf\" or null for probability 0)");
            }
        }
        traces.add(std::move(query_id), std::move(model), logprobs, line);
    }
    if (!any_line) throw ParseError(source, 0, "the file is empty; expected one JSON object per line");
    return traces;
}

/// Reads the token traces in the JSON Lines file at `path` (see above); cascade::ParseError when
/// it cannot be opened or read, or is malformed.
inline TokenTraces read_token_traces(const std::string& path,
                                     std::size_t max_line_bytes = detail::default_max_record_bytes) {
    std::ifstream in = detail::open_outcome_file(path);
    return read_token_traces(in, path, max_line_bytes);
}

}  // namespace cascade

#endif  // CASCADE_EVAL_TOKEN_TRACE_HPP
