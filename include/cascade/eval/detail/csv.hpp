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

// The bytes that end a plain run of a CSV record: comma, quote, CR, LF.
struct CsvSpecialBytes {
    bool is[256] = {};
    constexpr CsvSpecialBytes() {
        is[static_cast<unsigned char>(',')] = true;
        is[static_cast<unsigned char>('"')] = true;
        is[static_cast<unsigned char>('\n')] = true;
        is[static_cast<unsigned char>('\r')] = true;
    }
    constexpr bool operator[](unsigned char c) const { return is[c]; }
};
inline constexpr CsvSpecialBytes csv_special_bytes{};

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
    /// `limit_name` says in the error for a long record which option sets the limit.
    CsvReader(std::istream& in, std::string source_name, std::size_t max_record_bytes = default_max_record_bytes,
              std::string limit_name = "ReadOptions::max_line_bytes, cascade-eval --max-line-bytes")
        : input_(in, source_name),
          source_(std::move(source_name)),
          limit_name_(std::move(limit_name)),
          max_record_bytes_(max_record_bytes) {}

    /// Reads the next record into `fields` (replacing its contents). Returns false at the end of
    /// the input, leaving `fields` empty. Throws cascade::ParseError on malformed input.
    bool next(std::vector<std::string>& fields) {
        fields.clear();
        if (!read_record()) return false;
        for (const std::string_view f : views_) fields.emplace_back(f);
        return true;
    }

    /// As next(std::vector<std::string>&), without a string per field: the views point into the
    /// reader's own buffers and stay valid until the next call. The fast path of the log readers.
    bool next(std::vector<std::string_view>& fields) {
        fields.clear();
        if (!read_record()) return false;
        fields.assign(views_.begin(), views_.end());
        return true;
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

    // Reads one record into views_, one view a field: into the input's buffer for a plain record
    // (read_plain_record), else into record_ (the fields' bytes, one after the other, ends_ saying
    // where each ends). Whole runs of plain bytes are taken at once; the checks and their order
    // are those of reading byte by byte, so errors do not depend on where the input's chunks end.
    bool read_record() {
        record_.clear();
        ends_.clear();
        views_.clear();
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
        if (read_plain_record()) return true;
        for (;;) {
            c = peek();
            if (c == '"') {
                get();
                read_quoted();
                c = peek();
                if (c != ',' && c != '\n' && c != '\r' && c != eof) {
                    fail(line_, "unexpected character '" + printable(c) +
                                    "' after a closing quote; a quote inside a quoted field must be doubled");
                }
            } else {
                read_unquoted();
            }
            ends_.push_back(record_.size());
            c = peek();
            if (c == ',') {
                get();
                count(1);
                continue;
            }
            if (c == '\n' || c == '\r') end_of_line();
            std::size_t begin = 0;
            for (const std::size_t end : ends_) {
                views_.emplace_back(record_.data() + begin, end - begin);
                begin = end;
            }
            return true;
        }
    }

    // The common record, taken without copying: one that ends in the buffer, within the limit,
    // with no quote (a record with one, or that the buffer cuts, goes the general way, which
    // reports its errors). The views point into the buffer, which the next refill overwrites:
    // not before the next call, since the line end is consumed here without reading further.
    bool read_plain_record() {
        const char* p = input_.data();
        const std::size_t n = input_.available();
        std::size_t start = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = p[i];
            if (!csv_special_bytes[static_cast<unsigned char>(c)]) continue;
            if (c == ',') {
                views_.emplace_back(p + start, i - start);
                start = i + 1;
                continue;
            }
            if (c == '"' || i > max_record_bytes_ || (c == '\r' && i + 1 == n)) break;
            views_.emplace_back(p + start, i - start);
            input_.consume(i);
            end_of_line();
            return true;
        }
        views_.clear();
        return false;
    }

    // Counts bytes of the current record and stops before a field grows past the limit.
    void count(std::size_t bytes) {
        record_bytes_ += bytes;
        if (record_bytes_ > max_record_bytes_) {
            fail(record_line_, "the record is longer than the limit of " + std::to_string(max_record_bytes_) +
                                   " bytes (" + limit_name_ + "); is this a CSV file?");
        }
    }
    // Takes `n` bytes of the buffer into the current field, counted first.
    void take(std::size_t n) {
        count(n);
        record_.append(input_.data(), n);
        input_.consume(n);
    }

    // An unquoted field: up to a comma, a line end or the end of the input.
    void read_unquoted() {
        for (;;) {
            if (input_.available() == 0 && !input_.refill(line_)) return;
            const char* p = input_.data();
            const std::size_t n = input_.available();
            std::size_t i = 0;
            while (i < n && p[i] != ',' && p[i] != '\n' && p[i] != '\r' && p[i] != '"') ++i;
            take(i);
            if (i == n) continue;
            if (p[i] == '"') {
                fail(line_, "a double quote inside an unquoted field; quote the field and double the quote");
            }
            return;
        }
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

    // The rest of a quoted field, its opening quote consumed.
    void read_quoted() {
        const std::size_t opened = line_;
        for (;;) {
            if (input_.available() == 0 && !input_.refill(line_)) {
                fail(opened, "a quoted field is not closed before the end of the input");
            }
            const char* p = input_.data();
            const std::size_t n = input_.available();
            std::size_t i = 0;
            while (i < n && p[i] != '"' && p[i] != '\n' && p[i] != '\r') ++i;
            take(i);
            if (i == n) continue;
            const int c = get();
            if (c == '"') {
                if (peek() == '"') {
                    get();
                    count(2);
                    record_.push_back('"');
                    continue;
                }
                count(2);
                return;
            }
            if (c == '\r') {
                // Line ends inside a quoted field are data; count them for later line numbers.
                count(1);
                record_.push_back('\r');
                if (peek() == '\n') {
                    get();
                    count(1);
                    record_.push_back('\n');
                }
                ++line_;
                continue;
            }
            ++line_;
            count(1);
            record_.push_back('\n');
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
    std::string limit_name_;
    std::string record_;
    std::vector<std::size_t> ends_;
    std::vector<std::string_view> views_;
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
