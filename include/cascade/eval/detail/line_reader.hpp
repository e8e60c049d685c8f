// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_LINE_READER_HPP
#define CASCADE_EVAL_DETAIL_LINE_READER_HPP

#include <cstddef>
#include <cstring>
#include <istream>
#include <string>
#include <utility>

#include "../../core/parse_error.hpp"
#include "chunked_input.hpp"

namespace cascade::detail {

/// Reads a stream line by line, as std::getline would, but with a bound on the line's length,
/// checked before the line grows past it, and with read errors reported rather than taken for
/// the end of the input (both as cascade::ParseError naming the source and line).
///
/// Lines end with LF; a CR before it is removed; the last line may lack its LF. The limit counts
/// the bytes of a line without its line end. Not thread-safe (one reader per stream).
class LineReader {
public:
    LineReader(std::istream& in, std::string source, std::size_t max_line_bytes = default_max_record_bytes)
        : input_(in, source),
          source_(std::move(source)),
          max_line_bytes_(max_line_bytes) {}

    /// Reads the next line into `line` (replacing its contents). Returns false at the end of the
    /// input.
    bool next(std::string& line) {
        line.clear();
        bool partial = false;
        for (;;) {
            if (!input_.refill(line_ + 1)) {
                if (!partial) return false;
                ++line_;
                strip_cr(line);
                return true;
            }
            const char* p = input_.data();
            const std::size_t available = input_.available();
            const auto* lf = static_cast<const char*>(std::memchr(p, '\n', available));
            const std::size_t take = lf ? static_cast<std::size_t>(lf - p) : available;
            // A last CR is (or may yet turn out to be) part of the line end, not of the line.
            const bool ends_in_cr = take > 0 ? p[take - 1] == '\r' : !line.empty() && line.back() == '\r';
            if (line.size() + take - (ends_in_cr ? 1 : 0) > max_line_bytes_) {
                throw ParseError(source_, line_ + 1,
                                 "the line is longer than the limit of " + std::to_string(max_line_bytes_) +
                                     " bytes (ReadOptions::max_line_bytes, cascade-eval --max-line-bytes)");
            }
            line.append(p, take);
            input_.consume(take + (lf ? 1 : 0));
            if (lf) {
                ++line_;
                strip_cr(line);
                return true;
            }
            partial = true;
        }
    }

    /// The 1-based number of the last line next() returned.
    [[nodiscard]] std::size_t line() const noexcept { return line_; }

private:
    static void strip_cr(std::string& line) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
    }

    ChunkedInput input_;
    std::string source_;
    std::size_t max_line_bytes_;
    std::size_t line_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_LINE_READER_HPP
