// SPDX-License-Identifier: MIT
// Retry-After and the HTTP errors built on it: any header gives no wait or a wait in
// [0, 100 years], delay-seconds of any length always give one, and every status becomes one of
// the three documented exceptions. The first bytes choose the clock and the status.
#include <cascade/integration/chat_completion.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 6) return 0;
    std::uint32_t clock_bits = 0;
    std::memcpy(&clock_bits, data, sizeof clock_bits);
    const int status = 100 + (data[4] | (data[5] << 8)) % 500;
    const std::string_view header = cascade_fuzz::as_text(data + 6, size - 6);
    // Seconds from 1970 to about 2106: every date the header format can name lies around them.
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(clock_bits));
    const auto century = std::chrono::seconds(std::int64_t{100} * 365 * 86400);

    const auto wait = cascade::parse_retry_after(header, now);
    if (wait) {
        CASCADE_FUZZ_EXPECT(*wait >= std::chrono::nanoseconds::zero() && *wait <= century, std::string(header));
    }
    const std::string_view trimmed = cascade::detail::trim_ascii(header);
    const bool digits =
        !trimmed.empty() && std::all_of(trimmed.begin(), trimmed.end(), [](char c) { return c >= '0' && c <= '9'; });
    CASCADE_FUZZ_EXPECT(!digits || wait.has_value(), std::string(header));

    try {
        cascade::throw_http_error(status, "fuzz", header, "fuzz");
    } catch (const cascade::RateLimited& e) {
        // throw_http_error measures a date from the real clock, not from `now`.
        CASCADE_FUZZ_EXPECT(e.status() == status && (status == 429 || status == 503) && wait &&
                                e.retry_after() >= std::chrono::nanoseconds::zero() && e.retry_after() <= century,
                            e.what());
    } catch (const cascade::HttpError& e) {
        CASCADE_FUZZ_EXPECT(e.status() == status, e.what());
    } catch (const cascade::HttpRejected& e) {
        CASCADE_FUZZ_EXPECT(e.status() == status && status < 500, e.what());
    }
    return 0;
}
