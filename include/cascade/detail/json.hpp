// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_JSON_HPP
#define CASCADE_DETAIL_JSON_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "number.hpp"

// A small strict JSON reader and writer, so that reading JSON Lines logs and checking that a
// model's output is JSON need no dependency.
namespace cascade::detail {

/// Malformed JSON: what() is `JSON at byte N: reason`, N the 0-based offset in the text.
class JsonError : public std::runtime_error {
public:
    JsonError(std::size_t offset, std::string reason)
        : std::runtime_error("JSON at byte " + std::to_string(offset) + ": " + reason),
          reason_(std::move(reason)),
          offset_(offset) {}

    [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

private:
    std::string reason_;
    std::size_t offset_;
};

struct JsonMember;

/// One JSON value: null, a bool, a number (a double), a string (UTF-8), an array or an object.
/// An object keeps its members in the order of the text, duplicates included (RFC 8259 allows
/// them); find() returns the first.
class JsonValue {
public:
    enum class Type { null, boolean, number, string, array, object };
    using Array = std::vector<JsonValue>;
    using Object = std::vector<JsonMember>;

    // Defined after JsonMember: an object's member type must be complete first.
    JsonValue();
    JsonValue(std::nullptr_t);
    JsonValue(bool b);
    JsonValue(double n);
    template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
    JsonValue(Int n);
    JsonValue(std::string s);
    JsonValue(const char* s);
    JsonValue(Array a);
    JsonValue(Object o);
    JsonValue(const JsonValue&);
    JsonValue(JsonValue&&) noexcept;
    JsonValue& operator=(const JsonValue&);
    JsonValue& operator=(JsonValue&&) noexcept;
    ~JsonValue();

    [[nodiscard]] Type type() const noexcept { return type_; }
    [[nodiscard]] bool is_null() const noexcept { return type_ == Type::null; }
    [[nodiscard]] bool is_bool() const noexcept { return type_ == Type::boolean; }
    [[nodiscard]] bool is_number() const noexcept { return type_ == Type::number; }
    [[nodiscard]] bool is_string() const noexcept { return type_ == Type::string; }
    [[nodiscard]] bool is_array() const noexcept { return type_ == Type::array; }
    [[nodiscard]] bool is_object() const noexcept { return type_ == Type::object; }

    /// The value as that type; throw JsonError (at offset(), naming both types) for another type.
    [[nodiscard]] bool as_bool() const {
        expect(Type::boolean);
        return bool_;
    }
    [[nodiscard]] double as_number() const {
        expect(Type::number);
        return number_;
    }
    [[nodiscard]] const std::string& as_string() const {
        expect(Type::string);
        return string_;
    }
    [[nodiscard]] const Array& as_array() const {
        expect(Type::array);
        return array_;
    }
    [[nodiscard]] const Object& as_object() const;

    /// The first member named `key`; nullptr when there is none or this is not an object.
    [[nodiscard]] const JsonValue* find(std::string_view key) const;

    /// Where this value starts in the parsed text (0 for values built in code).
    [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
    void set_offset(std::size_t offset) noexcept { offset_ = offset; }

    /// Compact JSON text of this value (numbers shortest round-trip; NaN and infinities, which
    /// JSON cannot hold, as null).
    [[nodiscard]] std::string dump() const;

    static std::string_view type_name(Type t) noexcept {
        switch (t) {
            case Type::null: return "null";
            case Type::boolean: return "a bool";
            case Type::number: return "a number";
            case Type::string: return "a string";
            case Type::array: return "an array";
            case Type::object: return "an object";
        }
        return "unknown";
    }

private:
    [[nodiscard]] bool holds_values() const noexcept { return !array_.empty() || !object_.empty(); }

    void expect(Type t) const {
        if (type_ != t) {
            throw JsonError(offset_, "expected " + std::string(type_name(t)) + ", got " + std::string(type_name(type_)));
        }
    }

    Type type_ = Type::null;
    bool bool_ = false;
    double number_ = 0.0;
    std::size_t offset_ = 0;
    std::string string_;
    Array array_;
    Object object_;
};

/// One member of a JSON object.
struct JsonMember {
    std::string key;
    JsonValue value;
};

inline JsonValue::JsonValue() = default;
inline JsonValue::JsonValue(std::nullptr_t) {}
inline JsonValue::JsonValue(bool b) : type_(Type::boolean), bool_(b) {}
inline JsonValue::JsonValue(double n) : type_(Type::number), number_(n) {}
inline JsonValue::JsonValue(std::string s) : type_(Type::string), string_(std::move(s)) {}
inline JsonValue::JsonValue(const char* s) : type_(Type::string), string_(s) {}
inline JsonValue::JsonValue(Array a) : type_(Type::array), array_(std::move(a)) {}
inline JsonValue::JsonValue(Object o) : type_(Type::object), object_(std::move(o)) {}
template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int>>
JsonValue::JsonValue(Int n) : JsonValue(static_cast<double>(n)) {}
inline JsonValue::JsonValue(const JsonValue&) = default;
inline JsonValue::JsonValue(JsonValue&&) noexcept = default;
inline JsonValue& JsonValue::operator=(const JsonValue&) = default;
inline JsonValue& JsonValue::operator=(JsonValue&&) noexcept = default;
// The members' own destructors would recurse once per level of nesting; instead, containers
// that hold containers are moved out into one list and emptied there, so that destroying the
// deepest value parse_json accepts needs no more stack than destroying a flat one.
inline JsonValue::~JsonValue() {
    std::vector<JsonValue> nested;
    const auto take_nested = [&nested](JsonValue& v) {
        for (JsonValue& item : v.array_) {
            if (item.holds_values()) nested.push_back(std::move(item));
        }
        for (JsonMember& member : v.object_) {
            if (member.value.holds_values()) nested.push_back(std::move(member.value));
        }
    };
    take_nested(*this);
    while (!nested.empty()) {
        JsonValue v = std::move(nested.back());
        nested.pop_back();
        take_nested(v);
    }
}

inline const JsonValue::Object& JsonValue::as_object() const {
    expect(Type::object);
    return object_;
}

inline const JsonValue* JsonValue::find(std::string_view key) const {
    if (type_ != Type::object) return nullptr;
    for (const JsonMember& m : object_) {
        if (m.key == key) return &m.value;
    }
    return nullptr;
}

/// The deepest nesting of arrays and objects parse_json accepts by default; deeper input is a
/// JsonError "nesting deeper than 256 arrays/objects". Parsing and destroying do not recurse, so
/// this depth needs little stack (it parses on a 64 KiB thread stack); copying and dump() do
/// recurse, and the limit keeps them shallow too.
inline constexpr std::size_t json_max_depth = 256;

namespace json_impl {

class Parser {
public:
    Parser(std::string_view text, std::size_t max_depth) : text_(text), max_depth_(max_depth) {}

    JsonValue parse_document() {
        skip_space();
        JsonValue v = parse_value();
        skip_space();
        if (pos_ != text_.size()) fail(pos_, "unexpected " + describe_here() + " after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(std::size_t at, std::string reason) const { throw JsonError(at, std::move(reason)); }

    std::string describe_here() const {
        if (pos_ >= text_.size()) return "end of input";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
        static const char* hex = "0123456789abcdef";
        return std::string("byte 0x") + hex[c >> 4] + hex[c & 0xF];
    }

    void skip_space() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            ++pos_;
        }
    }

    bool consume_literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    // Nesting is followed on a stack of open containers on the heap, not by recursion, so that
    // the deepest input allowed needs no more of the thread's stack than a flat one.
    struct OpenContainer {
        bool is_object = false;
        std::size_t offset = 0;
        JsonValue::Array items;
        JsonValue::Object members;
        std::string key;  // of the member whose value is being read
    };

    JsonValue parse_value() {
        std::vector<OpenContainer> open;
        for (;;) {
            JsonValue value;
            if (pos_ >= text_.size()) fail(pos_, "expected a value, got end of input");
            const char c = text_[pos_];
            if (c == '[' || c == '{') {
                check_depth(open.size() + 1);
                OpenContainer container;
                container.is_object = c == '{';
                container.offset = pos_;
                ++pos_;
                skip_space();
                const char close = container.is_object ? '}' : ']';
                if (pos_ >= text_.size() || text_[pos_] != close) {
                    if (container.is_object) container.key = parse_member_name();
                    open.push_back(std::move(container));
                    continue;
                }
                ++pos_;
                value = container.is_object ? JsonValue(JsonValue::Object{}) : JsonValue(JsonValue::Array{});
                value.set_offset(container.offset);
            } else {
                value = parse_scalar();
            }
            // A complete value: it ends every container that closes after it.
            for (;;) {
                if (open.empty()) return value;
                OpenContainer& top = open.back();
                if (top.is_object) {
                    top.members.push_back(JsonMember{std::move(top.key), std::move(value)});
                } else {
                    top.items.push_back(std::move(value));
                }
                skip_space();
                if (pos_ < text_.size() && text_[pos_] == ',') {
                    ++pos_;
                    skip_space();
                    if (top.is_object) {
                        top.key = parse_member_name();
                    } else if (pos_ < text_.size() && text_[pos_] == ']') {
                        fail(pos_, "trailing comma in an array");
                    }
                    break;
                }
                const char close = top.is_object ? '}' : ']';
                if (pos_ >= text_.size() || text_[pos_] != close) {
                    fail(pos_, std::string("expected ',' or '") + close + "' in " +
                                   (top.is_object ? "an object" : "an array") + ", got " + describe_here());
                }
                ++pos_;
                value = top.is_object ? JsonValue(std::move(top.members)) : JsonValue(std::move(top.items));
                value.set_offset(top.offset);
                open.pop_back();
            }
        }
    }

    // A member name and its ':', leaving pos_ at the value.
    std::string parse_member_name() {
        if (pos_ >= text_.size() || text_[pos_] != '"') {
            if (pos_ < text_.size() && text_[pos_] == '}') fail(pos_, "trailing comma in an object");
            fail(pos_, "expected a member name in double quotes, got " + describe_here());
        }
        std::string key = parse_string();
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != ':') {
            fail(pos_, "expected ':' after a member name, got " + describe_here());
        }
        ++pos_;
        skip_space();
        return key;
    }

    JsonValue parse_scalar() {
        const std::size_t start = pos_;
        JsonValue v;
        switch (text_[pos_]) {
            case '"': v = JsonValue(parse_string()); break;
            case 't':
                if (!consume_literal("true")) fail(pos_, "invalid literal (expected true)");
                v = JsonValue(true);
                break;
            case 'f':
                if (!consume_literal("false")) fail(pos_, "invalid literal (expected false)");
                v = JsonValue(false);
                break;
            case 'n':
                if (!consume_literal("null")) fail(pos_, "invalid literal (expected null)");
                break;
            default:
                if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) {
                    v = JsonValue(parse_number_here());
                } else {
                    fail(pos_, "expected a value, got " + describe_here());
                }
        }
        v.set_offset(start);
        return v;
    }

    void check_depth(std::size_t depth) const {
        if (depth > max_depth_) {
            fail(pos_, "nesting deeper than " + std::to_string(max_depth_) + " arrays/objects");
        }
    }

    double parse_number_here() {
        const std::size_t start = pos_;
        if (text_[pos_] == '-') ++pos_;
        auto digit = [&] { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; };
        if (!digit()) fail(pos_, "expected a digit in a number, got " + describe_here());
        if (text_[pos_] == '0') {
            ++pos_;
            if (digit()) fail(start, "a number must not have leading zeros");
        } else {
            while (digit()) ++pos_;
        }
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digit()) fail(pos_, "expected a digit after the decimal point, got " + describe_here());
            while (digit()) ++pos_;
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digit()) fail(pos_, "expected a digit in the exponent, got " + describe_here());
            while (digit()) ++pos_;
        }
        double value = 0.0;
        if (!parse_decimal(text_.substr(start, pos_ - start), value)) fail(start, "invalid number");
        return value;
    }

    unsigned hex4() {
        if (pos_ + 4 > text_.size()) fail(pos_, "incomplete \\u escape");
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                v |= static_cast<unsigned>(c - 'A' + 10);
            } else {
                fail(pos_ - 1, "invalid hex digit in a \\u escape");
            }
        }
        return v;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    // Validates one UTF-8 sequence starting at pos_ (a lead byte >= 0x80) and copies it.
    void copy_utf8(std::string& out) {
        const std::size_t start = pos_;
        const auto lead = static_cast<unsigned char>(text_[pos_]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (lead >= 0xC2 && lead <= 0xDF) {
            len = 2, cp = lead & 0x1Fu;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            len = 3, cp = lead & 0x0Fu;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            len = 4, cp = lead & 0x07u;
        } else {
            fail(start, "invalid UTF-8 byte in a string");
        }
        if (start + len > text_.size()) fail(start, "truncated UTF-8 sequence in a string");
        for (std::size_t i = 1; i < len; ++i) {
            const auto c = static_cast<unsigned char>(text_[start + i]);
            if ((c & 0xC0) != 0x80) fail(start, "invalid UTF-8 sequence in a string");
            cp = (cp << 6) | (c & 0x3Fu);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            fail(start, "invalid UTF-8 sequence in a string");
        }
        out.append(text_.data() + start, len);
        pos_ = start + len;
    }

    std::string parse_string() {
        const std::size_t open = pos_;
        ++pos_;
        std::string out;
        for (;;) {
            if (pos_ >= text_.size()) fail(open, "unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail(pos_, "control character in a string; escape it (\\n, \\t, \\u00XX)");
            if (c >= 0x80) {
                copy_utf8(out);
                continue;
            }
            if (c != '\\') {
                out.push_back(static_cast<char>(c));
                ++pos_;
                continue;
            }
            const std::size_t escape = pos_;
            ++pos_;
            if (pos_ >= text_.size()) fail(escape, "unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    std::uint32_t cp = hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail(escape, "lone low surrogate in a \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (text_.substr(pos_, 2) != "\\u") fail(escape, "lone high surrogate in a \\u escape");
                        pos_ += 2;
                        const std::uint32_t low = hex4();
                        if (low < 0xDC00 || low > 0xDFFF) fail(escape, "high surrogate not followed by a low one");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail(escape, "invalid escape '\\" + std::string(1, e) + "' in a string");
            }
        }
    }

    std::string_view text_;
    std::size_t max_depth_;
    std::size_t pos_ = 0;
};

}  // namespace json_impl

/// Parses one JSON text (RFC 8259, strict): exactly one value, optionally surrounded by
/// whitespace. Throws JsonError with the byte offset and the reason for anything else.
///
/// Rejected: trailing commas, single quotes, comments, NaN/Infinity, leading zeros, a '+' sign,
/// control characters in strings, unknown escapes, invalid UTF-8, lone UTF-16 surrogates
/// (`"\ud800"`: they cannot be represented in UTF-8), a byte order mark, and nesting deeper than
/// `max_depth` arrays and objects. Numbers beyond the range of double become +-infinity (too
/// small ones 0); JSON sets no range, so they are not errors.
///
///     auto v = cascade::detail::parse_json(R"({"answer": 42})");
///     double a = v.find("answer")->as_number();
inline JsonValue parse_json(std::string_view text, std::size_t max_depth = json_max_depth) {
    return json_impl::Parser(text, max_depth).parse_document();
}

/// `text` escaped to go between the double quotes of a JSON string (the quotes are not added):
/// `"` and `\` escaped, control characters as \n, \t, ... or \u00XX. Invalid UTF-8 bytes become
/// U+FFFD so that the output is always valid JSON.
inline std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    static const char* hex = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out.push_back(hex[c >> 4]);
                        out.push_back(hex[c & 0xF]);
                    } else {
                        out.push_back(static_cast<char>(c));
                    }
            }
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07u;
        }
        bool valid = len > 0 && i + len <= text.size();
        for (std::size_t k = 1; valid && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            valid = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if (valid && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                      (cp >= 0xD800 && cp <= 0xDFFF))) {
            valid = false;
        }
        if (valid) {
            out.append(text.data() + i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

inline std::string JsonValue::dump() const {
    switch (type_) {
        case Type::null: return "null";
        case Type::boolean: return bool_ ? "true" : "false";
        case Type::number: {
            const std::string n = format_number(number_);
            return (n == "nan" || n == "inf" || n == "-inf") ? "null" : n;
        }
        case Type::string: return "\"" + json_escape(string_) + "\"";
        case Type::array: {
            std::string out = "[";
            for (std::size_t i = 0; i < array_.size(); ++i) {
                if (i > 0) out += ',';
                out += array_[i].dump();
            }
            return out + "]";
        }
        case Type::object: {
            std::string out = "{";
            for (std::size_t i = 0; i < object_.size(); ++i) {
                if (i > 0) out += ',';
                out += "\"" + json_escape(object_[i].key) + "\":" + object_[i].value.dump();
            }
            return out + "}";
        }
    }
    return "null";
}

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_JSON_HPP
