// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_VERDICT_HPP
#define CASCADE_CORE_VERDICT_HPP

#include <string>

namespace cascade {

/// What a verifier may return when a bare confidence is not enough to say.
///
/// A verifier returns a `double` confidence in [0, 1], a `bool`, or a Verdict. A Verdict also
/// carries what the check itself cost (a judge model's call, extra samples) and a note that is
/// kept in the trace, e.g. a judge's reply.
struct Verdict {
    double confidence = 0.0;  ///< in [0, 1]; the tier accepts when it is >= the tier's threshold
    double extra_cost = 0.0;  ///< dollars the check spent, added to the tier's cost
    std::string note;         ///< kept in the trace (Attempt::note)
};

}  // namespace cascade

#endif  // CASCADE_CORE_VERDICT_HPP
