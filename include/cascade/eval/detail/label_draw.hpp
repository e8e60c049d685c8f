// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_LABEL_DRAW_HPP
#define CASCADE_EVAL_DETAIL_LABEL_DRAW_HPP

#include <cstdint>

#include "../../detail/random.hpp"

namespace cascade::detail {

// The n-th query's own draw in [0, 1) (n from 0, in the order the queries are seen): the query is
// labelled when it is below the label rate. A draw of its own, from the seed and n alone, so that
// the choice does not depend on the other queries nor on the threads that observe them, and so
// that the live monitor (QualityMonitor) and its replay over a log (replay_monitored()) label the
// same queries for the same seed and order.
inline double label_draw(std::uint64_t seed, std::uint64_t n) noexcept {
    return static_cast<double>(splitmix64(seed ^ splitmix64(n)) >> 11U) * 0x1.0p-53;
}

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_LABEL_DRAW_HPP
