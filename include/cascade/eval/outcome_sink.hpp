// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_OUTCOME_SINK_HPP
#define CASCADE_EVAL_OUTCOME_SINK_HPP

#include <chrono>
#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "outcome_log.hpp"
#include "../core/result.hpp"

namespace cascade {

/// Writes what a Cascade (or Router) did as outcome rows, one per tier it called, in the format
/// read_outcomes reads: the log to replay and calibrate from later.
///
///     std::ofstream file("outcomes.csv", std::ios::binary);
///     cascade::OutcomeSink sink(file);                  // writes the CSV header
///     auto r = cascade.run(q);
///     sink.record(q.id, r, "support-tickets");         // one row per called tier
///
/// A row has the tier's name as model, the tier's cost (with what its verifier spent), its
/// verifier's confidence (empty when it had none or failed) and its latency. The quality column
/// is left empty: it is not known at run time. To replay, label the rows (grade each answer, or
/// join your labels on (query_id, model)), then read with the quality filled in; reading
/// unlabelled rows needs ReadOptions::allow_unlabelled. Calibrating a new chain needs every
/// model's outcome on the same queries: for a sample of traffic, call every model and record()
/// each call as an Outcome.
///
/// Thread-safety: record() may be called from many threads at once; rows are written whole,
/// under a mutex (the sink is opt-in and off the hot path). The stream must outlive the sink and
/// not be written by anything else meanwhile.
class OutcomeSink {
public:
    enum class Format { csv, jsonl };

    /// Writes the CSV header at once unless `format` is JSON Lines or `header` is false (e.g.
    /// when appending to a file that has it).
    explicit OutcomeSink(std::ostream& out, Format format = Format::csv, bool header = true)
        : out_(out), format_(format) {
        if (format_ == Format::csv && header) out_ << outcome_csv_header() << "\r\n" << std::flush;
    }

    /// Writes one row per tier `result` called. Returns the number of rows written.
    template <class Response>
    std::size_t record(std::string_view query_id, const Result<Response>& result, std::string_view benchmark = {}) {
        std::string rows;
        std::size_t n = 0;
        for (const Attempt& a : result.trace()) {
            if (!a.called()) continue;
            Outcome o;
            o.query_id = std::string(query_id);
            o.model = std::string(a.tier);
            o.cost = a.cost;
            o.confidence = a.confidence;
            o.benchmark = std::string(benchmark);
            o.latency_ms = std::chrono::duration<double, std::milli>(a.latency).count();
            rows += format_ == Format::csv ? outcome_csv_row(o) : outcome_json_row(o);
            ++n;
        }
        write(rows, n);
        return n;
    }

    /// Writes one row as given (e.g. a labelled outcome).
    void record(const Outcome& o) { write(format_ == Format::csv ? outcome_csv_row(o) : outcome_json_row(o), 1); }

    /// Rows written so far.
    [[nodiscard]] std::size_t rows() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return rows_;
    }

private:
    void write(const std::string& text, std::size_t n) {
        std::lock_guard<std::mutex> lock(mutex_);
        out_ << text;
        rows_ += n;
    }

    std::ostream& out_;
    Format format_;
    mutable std::mutex mutex_;
    std::size_t rows_ = 0;
};

}  // namespace cascade

#endif  // CASCADE_EVAL_OUTCOME_SINK_HPP
