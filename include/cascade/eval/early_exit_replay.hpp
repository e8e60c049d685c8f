// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_EARLY_EXIT_REPLAY_HPP
#define CASCADE_EVAL_EARLY_EXIT_REPLAY_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/parse_error.hpp"
#include "../core/stream_state.hpp"
#include "../core/token_sink.hpp"
#include "../detail/number.hpp"
#include "outcome_log.hpp"
#include "replay.hpp"
#include "token_trace.hpp"

// What early-exit rules would have done to a streaming cascade on logged token streams: the
// answers they would have stopped, the tokens and time they would have saved, and the good
// answers they would have thrown away, against waiting for every whole answer.
namespace cascade {

/// An early-exit rule: called with the stream so far after each token; a string stops the
/// stream (the reason) and the query goes to the next tier. cascade/verify/early_exit.hpp has
/// ready-made ones; any callable of this shape will do.
using EarlyExitRule = std::function<std::optional<std::string>(const StreamState&)>;

/// How a replay times tokens and prices a stopped answer.
struct EarlyExitReplayOptions {
    /// Tokens a second of every streaming tier. Empty: each answer's latency_ms spread evenly over
    /// its tokens (no time to first token), and no time for a row without latency_ms.
    std::optional<double> tokens_per_second;
    /// One per tier but the last: the price of an output token over that of an input token (4 for
    /// a model at $2.50 in and $10 out). Empty: 1 for every tier. See EarlyExitReplay for the rule.
    std::vector<double> output_price_ratio;
    /// A stopped answer whose logged quality is >= this was a good answer thrown away.
    double good_quality = 0.5;
    /// A model whose mean quality and cost are reported beside the policies; empty for none.
    std::string reference;
};

/// What one tier that streams (every tier but the last) did under a policy.
struct EarlyExitReplayTier {
    std::string model;
    std::size_t called = 0;
    /// Queries it passed to the next tier: stopped, or rejected once whole.
    std::size_t passed_on = 0;
    /// Answers a rule stopped before the end (or at the last token, before the check).
    std::size_t stopped = 0;
    /// Stopped answers that were good (quality >= EarlyExitReplayOptions::good_quality) ...
    std::size_t stopped_good = 0;
    /// ... of which the whole-answer check would have accepted: answers the cascade would have
    /// given, right, and lost to the rule.
    std::size_t stopped_good_accepted = 0;
    /// Calls without a token trace: no rule can stop them (they are checked whole).
    std::size_t untraced = 0;
    /// Tokens it produced, in all and on the queries it passed on.
    double tokens = 0.0;
    double tokens_passed_on = 0.0;
    /// Mean milliseconds from the call's start to passing the query on, over the `timed_passes`
    /// queries passed on whose time is known.
    double time_to_pass_ms = 0.0;
    std::size_t timed_passes = 0;
};

/// One policy's replay: waiting for every whole answer, or stopping streams by rules.
struct EarlyExitReplayResult {
    std::size_t queries = 0;
    double quality = 0.0;                   ///< mean quality of the answers given
    double cost = 0.0;                      ///< mean dollars per query (stopped answers priced as EarlyExitReplay says)
    double total_cost = 0.0;                ///< dollars over all queries
    std::vector<double> answered;           ///< per tier: share of queries whose answer it gave
    std::vector<EarlyExitReplayTier> tiers;  ///< per tier but the last
    /// Sums over `tiers`: answers stopped, good ones stopped, good ones the cascade would have
    /// given, and tokens the streaming tiers produced on queries they passed on.
    std::size_t stopped = 0;
    std::size_t stopped_good = 0;
    std::size_t stopped_good_accepted = 0;
    double tokens_passed_on = 0.0;
};

/// Replays a streaming cascade over an outcome log and its token traces, with and without
/// early-exit rules.
///
///     auto log = cascade::read_outcomes("outcomes.jsonl");
///     auto traces = cascade::read_token_traces("outcomes.jsonl");
///     cascade::EarlyExitReplay replay(log, traces, {"gpt-4o-mini", "gpt-4o"}, {-0.1});
///     auto whole = replay.whole_answer();
///     auto early = replay.run({[](const cascade::StreamState& s) -> std::optional<std::string> {
///         if (s.tokens() >= 8 && s.mean_prob() && *s.mean_prob() < 0.6) return "mean below 0.6";
///         return std::nullopt;
///     }});
///     // early.tokens_passed_on / whole.tokens_passed_on, early.quality - whole.quality
///
/// The semantics are replay_cascade's (Cascade with NoPassPolicy::accept_last), with a stream:
/// each token of tier i's answer is handed to a cascade::StreamState and its rule is asked; when
/// the rule stops the stream after token k, the query goes on to tier i + 1 whatever the answer's
/// confidence; when it never does, the whole answer is checked as usual (confidence >=
/// thresholds[i] accepts; a missing one rejects). The last tier's answer is always taken whole.
///
/// Tokens: an answer's tokens are its trace's (the log-probabilities; a trace carries no text, so
/// StreamState::text() stays empty); without a trace, the row's tokens_out (0 when empty), and
/// no rule sees the answer.
///
/// Cost: a stopped answer is charged its input in full and its output pro rata:
/// `cost * (tokens_in + r * k) / (tokens_in + r * n)` after k of its n tokens, r the tier's
/// output_price_ratio and tokens_in 0 when the row has none (then `cost * k / n`). Any other
/// part of the row's cost (a verifier's call) is scaled alike. Every other call costs its row.
///
/// Time: token k arrives k / tokens_per_second after the call starts, or at latency_ms * k / n;
/// a query passed on whole took its whole time.
///
/// Thread-safety: immutable after construction; run() may be called from many threads at once
/// (the rules are called on the caller's thread and must be safe to call so).
class EarlyExitReplay {
public:
    /// Joins the log and the traces. Throws std::invalid_argument for a chain of fewer than two
    /// models, an unknown or repeated model, a wrong number of thresholds or price ratios, a NaN
    /// threshold, a price ratio or tokens_per_second that is not a finite number > 0, or an unknown
    /// reference; cascade::ParseError for a log OutcomeTable refuses, a query that lacks a model of
    /// the chain, and a trace whose (query_id, model) has no row in the log (naming the traces'
    /// source and line: the ids of the two files do not match).
    EarlyExitReplay(const OutcomeLog& log, const TokenTraces& traces, std::vector<std::string> chain,
                    std::vector<double> thresholds, EarlyExitReplayOptions options = {})
        : table_(log),
          chain_(std::move(chain)),
          thresholds_(std::move(thresholds)),
          options_(std::move(options)) {
        constexpr const char* where = "cascade::EarlyExitReplay";
        if (chain_.size() < 2) {
            throw std::invalid_argument(std::string(where) + ": a chain of " + std::to_string(chain_.size()) +
                                        " models has no tier to stop early; give two or more");
        }
        models_ = detail::chain_indices(table_, chain_, where);
        const std::size_t streaming = chain_.size() - 1;
        if (thresholds_.size() != streaming) {
            throw std::invalid_argument(std::string(where) + ": a chain of " + std::to_string(chain_.size()) +
                                        " tiers needs " + std::to_string(streaming) +
                                        " thresholds (none for the last tier), got " +
                                        std::to_string(thresholds_.size()));
        }
        for (std::size_t i = 0; i < thresholds_.size(); ++i) {
            if (std::isnan(thresholds_[i])) {
                throw std::invalid_argument(std::string(where) + ": thresholds[" + std::to_string(i) + "] is NaN");
            }
        }
        if (options_.output_price_ratio.empty()) options_.output_price_ratio.assign(streaming, 1.0);
        if (options_.output_price_ratio.size() != streaming) {
            throw std::invalid_argument(std::string(where) + ": " + std::to_string(options_.output_price_ratio.size()) +
                                        " output price ratios for " + std::to_string(streaming) +
                                        " streaming tiers (one per tier but the last, or none for 1 each)");
        }
        for (std::size_t i = 0; i < streaming; ++i) {
            positive(options_.output_price_ratio[i], "output_price_ratio[" + std::to_string(i) + "]");
        }
        if (options_.tokens_per_second) positive(*options_.tokens_per_second, "tokens_per_second");
        if (!options_.reference.empty()) reference_ = table_.model_index(options_.reference);
        table_.require(models_);
        if (reference_) table_.require({*reference_});

        // (query, model) -> row, for the columns the table does not keep.
        std::unordered_map<std::string_view, std::size_t> query_of;
        query_of.reserve(table_.query_count());
        for (std::size_t q = 0; q < table_.query_count(); ++q) query_of.emplace(table_.queries()[q], q);
        const std::size_t nq = table_.query_count();
        std::vector<const Outcome*> row_of(streaming * nq, nullptr);
        std::vector<std::size_t> tier_of(table_.model_count(), streaming);
        for (std::size_t i = 0; i < streaming; ++i) tier_of[models_[i]] = i;
        for (const Outcome& o : log.rows) {
            const std::size_t i = tier_of[table_.model_index(o.model)];
            if (i < streaming) row_of[i * nq + query_of.at(o.query_id)] = &o;
        }
        for (const TokenTrace& t : traces.traces()) {
            const auto q = query_of.find(t.query_id);
            const auto m = table_.find_model(t.model);
            if (q == query_of.end() || !m || !table_.has(*m, q->second)) {
                throw ParseError(traces.source(), t.line,
                                 "a token trace for query \"" + t.query_id + "\" and model \"" + t.model +
                                     "\", which " + log.source + " has no outcome for");
            }
        }

        calls_.resize(streaming * nq);
        for (std::size_t i = 0; i < streaming; ++i) {
            for (std::size_t q = 0; q < nq; ++q) {
                const Outcome& o = *row_of[i * nq + q];
                Call& c = calls_[i * nq + q];
                // Copied: the replay outlives the traces it was given.
                if (const TokenTrace* t = traces.find(o.query_id, o.model)) {
                    c.traced = true;
                    c.first = logprobs_.size();
                    c.count = t->logprobs.size();
                    logprobs_.insert(logprobs_.end(), t->logprobs.begin(), t->logprobs.end());
                }
                c.tokens = c.traced ? static_cast<double>(c.count) : o.tokens_out.value_or(0.0);
                c.tokens_in = o.tokens_in.value_or(0.0);
                if (options_.tokens_per_second) {
                    c.ms_per_token = 1000.0 / *options_.tokens_per_second;
                    c.whole_ms = c.tokens * c.ms_per_token;
                } else if (o.latency_ms) {
                    c.whole_ms = *o.latency_ms;
                    if (c.tokens > 0) c.ms_per_token = *o.latency_ms / c.tokens;
                }
            }
        }
    }

    /// Every answer taken whole, then checked: replay_cascade's result, with the tokens and time.
    [[nodiscard]] EarlyExitReplayResult whole_answer() const { return run({}); }

    /// Each tier i but the last streams through rules[i] (an empty function: none); `rules` has
    /// one per tier but the last, or is empty for whole_answer(). Throws std::invalid_argument for
    /// another number of rules; what a rule throws is passed on.
    [[nodiscard]] EarlyExitReplayResult run(const std::vector<EarlyExitRule>& rules) const {
        const std::size_t streaming = models_.size() - 1;
        if (!rules.empty() && rules.size() != streaming) {
            throw std::invalid_argument("cascade::EarlyExitReplay::run: " + std::to_string(rules.size()) +
                                        " rules for " + std::to_string(streaming) +
                                        " streaming tiers (one per tier but the last, or none)");
        }
        const std::size_t nq = table_.query_count();
        const std::size_t k = models_.size();
        EarlyExitReplayResult r;
        r.queries = nq;
        r.tiers.resize(streaming);
        for (std::size_t i = 0; i < streaming; ++i) r.tiers[i].model = chain_[i];
        std::vector<std::size_t> answered(k, 0);
        std::vector<double> pass_ms(streaming, 0.0);
        StreamState state;
        double quality = 0.0;
        double cost = 0.0;
        for (std::size_t q = 0; q < nq; ++q) {
            for (std::size_t i = 0; i < k; ++i) {
                const std::size_t m = models_[i];
                if (i + 1 == k) {
                    cost += table_.cost(m, q);
                    quality += table_.quality(m, q);
                    ++answered[i];
                    break;
                }
                const Call& c = calls_[i * nq + q];
                EarlyExitReplayTier& t = r.tiers[i];
                ++t.called;
                if (!c.traced) ++t.untraced;
                // `>=` is false for NaN: a missing confidence rejects.
                const bool accepts = table_.confidence(m, q) >= thresholds_[i];
                std::size_t stopped_at = 0;
                if (c.traced && !rules.empty() && rules[i]) stopped_at = first_stop(rules[i], c, state);
                if (stopped_at > 0) {
                    const double n = c.tokens;
                    const double kk = static_cast<double>(stopped_at);
                    const double ratio = options_.output_price_ratio[i];
                    cost += table_.cost(m, q) * (c.tokens_in + ratio * kk) / (c.tokens_in + ratio * n);
                    t.tokens += kk;
                    t.tokens_passed_on += kk;
                    ++t.passed_on;
                    ++t.stopped;
                    if (table_.quality(m, q) >= options_.good_quality) {
                        ++t.stopped_good;
                        if (accepts) ++t.stopped_good_accepted;
                    }
                    if (!std::isnan(c.ms_per_token)) {
                        pass_ms[i] += c.ms_per_token * kk;
                        ++t.timed_passes;
                    }
                    continue;
                }
                cost += table_.cost(m, q);
                t.tokens += c.tokens;
                if (accepts) {
                    quality += table_.quality(m, q);
                    ++answered[i];
                    break;
                }
                t.tokens_passed_on += c.tokens;
                ++t.passed_on;
                if (!std::isnan(c.whole_ms)) {
                    pass_ms[i] += c.whole_ms;
                    ++t.timed_passes;
                }
            }
        }
        const double count = static_cast<double>(nq);
        r.quality = quality / count;
        r.total_cost = cost;
        r.cost = cost / count;
        for (std::size_t i = 0; i < k; ++i) r.answered.push_back(static_cast<double>(answered[i]) / count);
        for (std::size_t i = 0; i < streaming; ++i) {
            EarlyExitReplayTier& t = r.tiers[i];
            if (t.timed_passes > 0) t.time_to_pass_ms = pass_ms[i] / static_cast<double>(t.timed_passes);
            r.stopped += t.stopped;
            r.stopped_good += t.stopped_good;
            r.stopped_good_accepted += t.stopped_good_accepted;
            r.tokens_passed_on += t.tokens_passed_on;
        }
        return r;
    }

    [[nodiscard]] const OutcomeTable& table() const noexcept { return table_; }
    [[nodiscard]] const std::vector<std::string>& chain() const noexcept { return chain_; }
    [[nodiscard]] const std::vector<double>& thresholds() const noexcept { return thresholds_; }
    [[nodiscard]] const EarlyExitReplayOptions& options() const noexcept { return options_; }

    /// Calls of tier i (not the last) that have a token trace.
    [[nodiscard]] std::size_t traced_calls(std::size_t i) const {
        const std::size_t nq = table_.query_count();
        std::size_t n = 0;
        for (std::size_t q = 0; q < nq; ++q) n += calls_.at(i * nq + q).traced ? 1u : 0u;
        return n;
    }

    /// The reference model's mean quality and cost over the queries; empty without a reference.
    [[nodiscard]] std::optional<double> reference_quality() const {
        if (!reference_) return std::nullopt;
        return table_.mean_quality(*reference_);
    }
    [[nodiscard]] std::optional<double> reference_cost() const {
        if (!reference_) return std::nullopt;
        return table_.mean_cost(*reference_);
    }

private:
    struct Call {
        bool traced = false;
        std::size_t first = 0;  // the trace: logprobs_[first, first + count)
        std::size_t count = 0;
        double tokens = 0.0;
        double tokens_in = 0.0;
        double ms_per_token = std::numeric_limits<double>::quiet_NaN();
        double whole_ms = std::numeric_limits<double>::quiet_NaN();
    };

    static void positive(double x, const std::string& name) {
        if (!(x > 0.0) || !std::isfinite(x)) {
            throw std::invalid_argument("cascade::EarlyExitReplay: " + name + " is " + detail::format_number(x) +
                                        "; it must be a finite number > 0");
        }
    }

    // The 1-based token after which the rule stops the stream; 0 when it lets it finish.
    std::size_t first_stop(const EarlyExitRule& rule, const Call& c, StreamState& state) const {
        state.clear();
        const double ms = std::isnan(c.ms_per_token) ? 0.0 : c.ms_per_token;
        // A century: far past any real stream, and inside what nanoseconds hold.
        constexpr double max_ms = 3.2e12;
        const double* lps = logprobs_.data() + c.first;
        for (std::size_t j = 0; j < c.count; ++j) {
            const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::duration<double, std::milli>(std::min(max_ms, ms * static_cast<double>(j + 1))));
            state.observe(TokenChunk{std::string_view(), lps[j]}, elapsed);
            if (rule(state)) return j + 1;
        }
        return 0;
    }

    OutcomeTable table_;
    std::vector<std::string> chain_;
    std::vector<double> thresholds_;
    EarlyExitReplayOptions options_;
    std::vector<std::size_t> models_;
    std::optional<std::size_t> reference_;
    std::vector<Call> calls_;  // tier i (but the last), query q at [i * queries + q]
    std::vector<double> logprobs_;
};

}  // namespace cascade

#endif  // CASCADE_EVAL_EARLY_EXIT_REPLAY_HPP
