// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_HEDGE_HPP
#define CASCADE_CORE_HEDGE_HPP

#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "tier.hpp"

namespace cascade {

/// A Tier that races the next tier when it is slow; made by cascade::with_hedge_after. Everything
/// a Tier offers applies; with_time_limit and with_cost_estimate keep the hedge.
template <class Model, class Verifier = NoVerifier, class Cost = FixedCost>
class HedgedTier : public Tier<Model, Verifier, Cost> {
    using Base = Tier<Model, Verifier, Cost>;

public:
    /// Throws std::invalid_argument for a negative delay.
    HedgedTier(Base tier, std::chrono::nanoseconds delay) : Base(std::move(tier)), hedge_after_(delay) {
        if (delay < std::chrono::nanoseconds::zero()) {
            throw std::invalid_argument("cascade::with_hedge_after(\"" + this->name() +
                                        "\"): the delay must be >= 0, got " + std::to_string(delay.count()) + " ns");
        }
    }

    /// How long the tier may run alone before the next tier is started alongside it.
    [[nodiscard]] std::chrono::nanoseconds hedge_after() const noexcept { return hedge_after_; }

    /// As Tier::with_time_limit; the hedge is kept.
    HedgedTier&& with_time_limit(std::chrono::nanoseconds limit) && {
        std::move(static_cast<Base&>(*this)).with_time_limit(limit);
        return std::move(*this);
    }
    /// As Tier::with_cost_estimate; the hedge is kept.
    HedgedTier&& with_cost_estimate(double dollars) && {
        std::move(static_cast<Base&>(*this)).with_cost_estimate(dollars);
        return std::move(*this);
    }
    /// As Tier::with_early_exit; the hedge is kept.
    template <class Rule>
    HedgedTier&& with_early_exit(Rule&& rule) && {
        std::move(static_cast<Base&>(*this)).with_early_exit(std::forward<Rule>(rule));
        return std::move(*this);
    }
    /// As Tier::with_stall_limit; the hedge is kept.
    HedgedTier&& with_stall_limit(std::chrono::nanoseconds limit) && {
        std::move(static_cast<Base&>(*this)).with_stall_limit(limit);
        return std::move(*this);
    }

private:
    std::chrono::nanoseconds hedge_after_;
};

/// Hedging: when `tier` has not answered `delay` after its call started, the cascade starts the
/// next tier too, on a helper thread, and takes the first of the two answers that passes its
/// check. The other call is asked to stop (CallContext::cancel_requested()) and waited for: run()
/// returns only once both calls have returned, so both are in the trace, the stats and the cost.
/// If neither passes, the query escalates past both as usual. A delay of zero starts both at once.
///
///     cascade::Cascade c{cascade::with_hedge_after(cascade::tier("mini", call_mini, conf, 0.8), 800ms),
///                        cascade::tier("big", call_big)};
///
/// Throws std::invalid_argument for a negative delay; a Cascade whose last tier is hedged throws
/// at construction (there is no tier to start). A tier without hedge runs as before: no thread.
template <class Model, class Verifier, class Cost>
HedgedTier<Model, Verifier, Cost> with_hedge_after(Tier<Model, Verifier, Cost> tier, std::chrono::nanoseconds delay) {
    return HedgedTier<Model, Verifier, Cost>(std::move(tier), delay);
}

/// Changes the delay of a tier that is already hedged.
template <class Model, class Verifier, class Cost>
HedgedTier<Model, Verifier, Cost> with_hedge_after(HedgedTier<Model, Verifier, Cost> tier,
                                                   std::chrono::nanoseconds delay) {
    return HedgedTier<Model, Verifier, Cost>(std::move(static_cast<Tier<Model, Verifier, Cost>&>(tier)), delay);
}

namespace detail {

// A hedged tier is a tier wherever one is accepted: a Cascade's tier, also inside a Router's route.
template <class Model, class Verifier, class Cost>
struct is_tier<HedgedTier<Model, Verifier, Cost>> : std::true_type {};

template <class T>
struct is_hedged : std::false_type {};
template <class Model, class Verifier, class Cost>
struct is_hedged<HedgedTier<Model, Verifier, Cost>> : std::true_type {};
template <class T>
inline constexpr bool is_hedged_v = is_hedged<std::decay_t<T>>::value;

}  // namespace detail

}  // namespace cascade

#endif  // CASCADE_CORE_HEDGE_HPP
