// SPDX-License-Identifier: MIT
// A stream that serves some text and then fails to read, as a disk, a pipe or a network file
// system can: the portable way to test that a reader tells a read error from the end of input.
#ifndef CASCADE_TESTS_FAILING_STREAMBUF_HPP
#define CASCADE_TESTS_FAILING_STREAMBUF_HPP

#include <algorithm>
#include <cstddef>
#include <ios>
#include <streambuf>
#include <string>
#include <utility>

namespace cascade_test {

/// Serves the first `good_bytes` of `text`, a few at a time, then throws from underflow(): an
/// istream reading it sets badbit, as it does when the file system reports an error. When
/// `good_bytes` covers the whole text the stream ends normally.
class FailingStreambuf : public std::streambuf {
public:
    FailingStreambuf(std::string text, std::size_t good_bytes, std::size_t piece = 4096)
        : text_(std::move(text)),
          good_(std::min(good_bytes, text_.size())),
          piece_(piece) {}

    /// Bytes handed out so far.
    [[nodiscard]] std::size_t served() const noexcept { return next_; }

protected:
    int_type underflow() override {
        if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
        if (next_ >= good_) {
            if (good_ == text_.size()) return traits_type::eof();
            throw std::ios_base::failure("injected read error");
        }
        const std::size_t n = std::min(piece_, good_ - next_);
        char* begin = &text_[next_];
        setg(begin, begin, begin + n);
        next_ += n;
        return traits_type::to_int_type(*gptr());
    }

private:
    std::string text_;
    std::size_t good_;
    std::size_t piece_;
    std::size_t next_ = 0;
};

}  // namespace cascade_test

#endif  // CASCADE_TESTS_FAILING_STREAMBUF_HPP
