// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_CHUNKED_INPUT_HPP
#define CASCADE_EVAL_DETAIL_CHUNKED_INPUT_HPP

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include "../../core/parse_error.hpp"

namespace cascade::detail {

/// The longest record the log readers take by default (1 MiB): outcome rows hold ids and
/// numbers, so anything longer is almost surely not an outcome log (a binary file, /dev/zero),
/// and refusing it bounds the memory a bad input can take.
inline constexpr std::size_t default_max_record_bytes = std::size_t{1} << 20;

/// A stream read in large chunks, telling the end of the input from a failure to read it.
///
/// A stream whose read fails (badbit, or failbit without eofbit: an I/O error, a directory, a
/// streambuf that throws) is not at its end: refill() then throws cascade::ParseError instead
/// of reporting the end, so that a reader never mistakes a truncated read for a short file.
/// Bytes read before the failure are handed out first.
class ChunkedInput {
public:
    ChunkedInput(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}

    [[nodiscard]] const char* data() const noexcept { return buf_.data() + pos_; }
    [[nodiscard]] std::size_t available() const noexcept { return end_ - pos_; }
    void consume(std::size_t n) noexcept { pos_ += n; }

    /// Reads the next chunk once the current one is used up. Returns false at the end of the
    /// input; throws cascade::ParseError (at `line`) when the stream cannot be read further.
    bool refill(std::size_t line) {
        if (pos_ < end_) return true;
        pos_ = 0;
        end_ = 0;
        if (failed()) fail(line);
        if (in_.eof()) return false;
        in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        end_ = static_cast<std::size_t>(in_.gcount());
        read_ += end_;
        if (end_ > 0) return true;
        if (failed()) fail(line);
        return false;
    }

private:
    [[nodiscard]] bool failed() const { return in_.bad() || (in_.fail() && !in_.eof()); }

    [[noreturn]] void fail(std::size_t line) const {
        throw ParseError(source_, line,
                         "read error after " + std::to_string(read_) +
                             " bytes: the input could not be read to its end, so nothing past this point was read");
    }

    std::istream& in_;
    std::string source_;
    std::vector<char> buf_ = std::vector<char>(std::size_t{1} << 16);
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::uint64_t read_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_CHUNKED_INPUT_HPP
