// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_PARSE_ERROR_HPP
#define CASCADE_CORE_PARSE_ERROR_HPP

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace cascade {

/// Malformed input in a file or stream the library reads (outcome logs, CSV, JSON Lines).
///
/// what() is `source:line: reason`, the form editors and CI logs turn into a link, e.g.
/// `train.csv:17: column "cost": "abc" is not a number`. A line of 0 means the problem concerns
/// the whole input (what() is then `source: reason`).
class ParseError : public std::runtime_error {
public:
    ParseError(std::string source, std::size_t line, std::string reason)
        : std::runtime_error(format(source, line, reason)),
          source_(std::move(source)),
          reason_(std::move(reason)),
          line_(line) {}

    /// The file name (or the name the caller gave the stream).
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// 1-based line where the offending record starts; 0 for the whole input.
    [[nodiscard]] std::size_t line() const noexcept { return line_; }
    /// What is wrong, without the location.
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

private:
    static std::string format(const std::string& source, std::size_t line, const std::string& reason) {
        std::string out = source;
        if (line > 0) out += ":" + std::to_string(line);
        out += ": ";
        out += reason;
        return out;
    }

    std::string source_;
    std::string reason_;
    std::size_t line_;
};

}  // namespace cascade

#endif  // CASCADE_CORE_PARSE_ERROR_HPP
