// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_CSV_HPP
#define CASCADE_EVAL_DETAIL_CSV_HPP

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/parse_error.hpp"
#include "chunked_input.hpp"

namespace cascade::detail {

/// Reads RFC 4180 CSV one record at a time.
///
///     std::ifstream in("outcomes.csv", std::ios::binary);
///     cascade::detail::CsvReader csv(in, "outcomes.csv");
///     std::vector<std::string> fields;
///     while (csv.next(fields)) { ... csv.line() ... }
///
/// Accepted: fields separated by commas; a field in double quotes may hold commas, CR, LF and
/// doubled quotes (""); records end with LF, CRLF or a lone CR; the last record may lack its line
/// end; a UTF-8 byte order mark at the very start is skipped. A blank line is a record with no
/// fields (the caller decides whether that is an error). Records may have different field counts.
///
/// Rejected with cascade::ParseError (source:line: reason): a quoted field without its closing
/// quote, a character other than a comma or a line end after a closing quote (`"a"b`), and a
/// double quote inside an unquoted field (`a"b`): these are how a truncated or hand-edited file
/// shows, and reading them leniently would silently shift every following field.
///
/// Limits, checked before the memory they guard is taken: a record (with the line breaks inside
/// its quoted fields, without its own line end) longer than `max_record_bytes` is a ParseError
/// naming the line it starts on and the limit. A read error is a ParseError too, never taken
/// for the end of the input.
///
/// Reads the stream through a buffer of its own; open files in binary mode so CRLF reaches it.
/// Not thread-safe (one reader per stream).
class CsvReader {
public:
    CsvReader(std::istream& in, std::string source_name, std::size_t max_record_bytes = default_max_record_bytes)
        : input_(in, source_name),
          source_(std::move(source_name)),
          max_record_bytes_(max_record_bytes) {}

    /// Reads the next record into `fields` (replacing its contents). Returns false at the end of
    /// the input, leaving `fields` empty. Throws cascade::ParseError on malformed input.
    bool next(std::vector<std::string>& fields) {
        fields.clear();
        if (!started_) {
            started_ = true;
            skip_bom();
        }
        int c = peek();
        if (c == eof) return false;
        record_line_ = line_;
        record_bytes_ = 0;
        // A blank line is a record without fields.
        if (c == '\n' || c == '\r') {
            end_of_line();
            return true;
        }
        std::string field;
        for (;;) {
            field.clear();
            c = peek();
            if (c == '"') {
                get();
                read_quoted(field);
                c = peek();
                if (c != ',' && c != '\n' && c != '\r' && c != eof) {
                    fail(line_, "unexpected character '" + printable(c) +
                                    "' after a closing quote; a quote inside a quoted field must be doubled");
                }
            } else {
                for (;;) {
                    c = peek();
                    if (c == ',' || c == '\n' || c == '\r' || c == eof) break;
                    if (c == '"') {
                        fail(line_, "a double quote inside an unquoted field; quote the field and double the quote");
                    }
                    append(field, static_cast<char>(get()));
                }
            }
            fields.push_back(field);
            c = peek();
            if (c == ',') {
                get();
                count(1);
                continue;
            }
            if (c == '\n' || c == '\r') end_of_line();
            return true;
        }
    }

    /// The 1-based line where the last record returned by next() started.
    [[nodiscard]] std::size_t line() const noexcept { return record_line_; }
    /// The name given to the input, used in error messages.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

private:
    static constexpr int eof = -1;

    int peek() {
        if (input_.available() == 0 && !input_.refill(line_)) return eof;
        return static_cast<unsigned char>(*input_.data());
    }
    int get() {
        const int c = peek();
        if (c != eof) input_.consume(1);
        return c;
    }

    // Counts bytes of the current record and stops before a field grows past the limit.
    void count(std::size_t bytes) {
        record_bytes_ += bytes;
        if (record_bytes_ > max_record_bytes_) {
            fail(record_line_, "the record is longer than the limit of " + std::to_string(max_record_bytes_) +
                                   " bytes (ReadOptions::max_line_bytes, cascade-eval --max-line-bytes); "
                                   "is this a CSV file?");
        }
    }
    void append(std::string& field, char c) {
        count(1);
        field.push_back(c);
    }

    void skip_bom() {
        if (peek() != 0xEF) return;
        // Only a complete BOM is skipped; anything else stays as data. The buffer holds at least
        // three bytes here unless the input is shorter than that.
        const char* p = input_.data();
        if (input_.available() >= 3 && static_cast<unsigned char>(p[1]) == 0xBB &&
            static_cast<unsigned char>(p[2]) == 0xBF) {
            input_.consume(3);
        }
    }

    // Consumes LF, CRLF or a lone CR and counts one line.
    void end_of_line() {
        if (get() == '\r' && peek() == '\n') get();
        ++line_;
    }

    void read_quoted(std::string& field) {
        const std::size_t opened = line_;
        for (;;) {
            const int c = get();
            if (c == eof) fail(opened, "a quoted field is not closed before the end of the input");
            if (c == '"') {
                if (peek() == '"') {
                    get();
                    count(1);
                    append(field, '"');
                    continue;
                }
                count(2);
                return;
            }
            if (c == '\r') {
                // Line ends inside a quoted field are data; count them for later line numbers.
                append(field, '\r');
                if (peek() == '\n') {
                    get();
                    append(field, '\n');
                }
                ++line_;
                continue;
            }
            if (c == '\n') ++line_;
            append(field, static_cast<char>(c));
        }
    }

    static std::string printable(int c) {
        if (c >= 0x20 && c < 0x7F) return std::string(1, static_cast<char>(c));
        static const char* hex = "0123456789abcdef";
        std::string out = "\\x";
        out += hex[(c >> 4) & 0xF];
        out += hex[c & 0xF];
        return out;
    }

    [[noreturn]] void fail(std::size_t line, std::string reason) const {
        throw ParseError(source_, line, std::move(reason));
    }

    ChunkedInput input_;
    std::string source_;
    std::size_t max_record_bytes_;
    std::size_t record_bytes_ = 0;
    std::size_t line_ = 1;
    std::size_t record_line_ = 0;
    bool started_ = false;
};

/// `text` as one CSV field: unchanged when it holds no comma, quote, CR or LF and does not start
/// or end with a space; otherwise in double quotes with its quotes doubled.
inline std::string csv_escape(std::string_view text) {
    bool quote = !text.empty() && (text.front() == ' ' || text.back() == ' ');
    for (const char c : text) {
        if (c == ',' || c == '"' || c == '\n' || c == '\r') {
            quote = true;
            break;
        }
    }
    if (!quote) return std::string(text);
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('"');
    for (const char c : text) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_CSV_HPP
