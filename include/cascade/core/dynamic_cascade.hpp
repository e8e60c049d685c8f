// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DYNAMIC_CASCADE_HPP
#define CASCADE_CORE_DYNAMIC_CASCADE_HPP

#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cascade.hpp"
#include "config.hpp"
#include "detail/erased_tier.hpp"
#include "../detail/number.hpp"
#include "options.hpp"
#include "result.hpp"
#include "stats.hpp"
#include "tier_registry.hpp"

namespace cascade {

/// A cascade whose chain of tiers and thresholds is chosen at run time, by name, from a
/// TierRegistry: what cascade::calibrate() (or a calibration file, see
/// cascade::load_calibration_file) picks, run without knowing its length at compile time.
///
///     cascade::TierRegistry<Question, Answer> registry;
///     registry.add("mini", call_mini, confidence, cascade::price_per_call(2e-4));
///     registry.add("big", call_big, cascade::price_per_call(5e-3));
///     cascade::DynamicCascade<Question, Answer> c(registry, {"mini", "big"}, {0.8});
///     auto r = c.run(question);  // as Cascade::run: r.value(), r.tier(), r.cost(), r.trace()
///
/// `thresholds[i]` is the threshold of chain[i]'s verifier, one per tier but the last; the last
/// tier keeps the threshold it was registered with. Everything else is the static Cascade's:
/// the chain runs as a `Cascade` of the same tiers would, with the same Result, trace, Stats,
/// events, deadlines, cost caps and handling of what a model throws, because it *is* one, over
/// tiers that call the registered ones through a function pointer (about one indirect call per
/// tier called and one per query; see benchmarks/README.md). Hedged tiers cannot be registered.
///
/// Thread-safety: as Cascade. run() and stats() may be called from many threads at once,
/// provided the tiers' callables may be; construction, moving and reset_stats() must not overlap
/// other calls. To change the chain, configure a new DynamicCascade (its stats start at zero).
/// Results name their tiers with views of the cascade's names, as Cascade's do: to reconfigure
/// while results (or a result cache over the cascade) are still read, hold the cascade in a
/// std::shared_ptr and swap in the new one, keeping the old alive until its results are done.
template <class Request, class Response>
class DynamicCascade {
    using Link = detail::ErasedTier<Request, Response>;
    template <std::size_t>
    using LinkAt = Link;
    template <class Indices>
    struct chain_of;
    template <std::size_t... Is>
    struct chain_of<std::index_sequence<Is...>> {
        using type = Cascade<LinkAt<Is>...>;
    };
    template <std::size_t N>
    using CascadeOf = typename chain_of<std::make_index_sequence<N>>::type;
    template <class Lengths>
    struct any_chain;
    template <std::size_t... Ns>
    struct any_chain<std::index_sequence<Ns...>> {
        using type = std::variant<CascadeOf<Ns + 1>...>;
    };
    // A Cascade of each length a chain may have; the one configured is built in place.
    using AnyChain = typename any_chain<std::make_index_sequence<CASCADE_MAX_TIERS>>::type;

public:
    /// Chains the registered tiers named in `chain`, cheapest first. Throws std::invalid_argument
    /// for an empty chain or one longer than CASCADE_MAX_TIERS, a name not registered (naming the
    /// registered ones) or given twice, a count of thresholds other than chain.size() - 1, a
    /// threshold outside [0, 1] or NaN, a tier before the last without a verifier (a threshold
    /// would mean nothing to it), and for what Cascade's constructor refuses in `options`.
    DynamicCascade(const TierRegistry<Request, Response>& registry, std::vector<std::string> chain,
                   std::vector<double> thresholds, CascadeOptions options = {})
        : chain_(std::move(chain)),
          thresholds_(std::move(thresholds)),
          cascade_(build(registry, chain_, thresholds_, std::move(options))) {}

    /// Runs `request` through the chain, as Cascade::run does.
    Result<Response> run(const Request& request) {
        return std::visit([&](auto& c) { return c.run(request); }, cascade_);
    }

    /// Runs `request` with limits of its own, as Cascade::run(request, limits) does.
    Result<Response> run(const Request& request, const Limits& limits) {
        return std::visit([&](auto& c) { return c.run(request, limits); }, cascade_);
    }

    /// Runs `request` as a streamed query, as Cascade::stream does.
    template <class OnStream>
    Result<Response> stream(const Request& request, OnStream&& on_stream, StreamMode mode = StreamMode::buffered) {
        return std::visit([&](auto& c) { return c.stream(request, on_stream, mode); }, cascade_);
    }

    /// stream() with limits of its own, as Cascade::stream(request, on_stream, mode, limits).
    template <class OnStream>
    Result<Response> stream(const Request& request, OnStream&& on_stream, StreamMode mode, const Limits& limits) {
        return std::visit([&](auto& c) { return c.stream(request, on_stream, mode, limits); }, cascade_);
    }

    /// A snapshot of the counters, as Cascade::stats().
    [[nodiscard]] Stats stats() const {
        return std::visit([](const auto& c) { return c.stats(); }, cascade_);
    }

    void reset_stats() noexcept {
        std::visit([](auto& c) { c.reset_stats(); }, cascade_);
    }

    [[nodiscard]] const CascadeOptions& options() const noexcept {
        return *std::visit([](const auto& c) { return &c.options(); }, cascade_);
    }
    [[nodiscard]] std::size_t tier_count() const noexcept { return chain_.size(); }
    [[nodiscard]] std::string_view tier_name(std::size_t i) const { return chain_.at(i); }
    /// The chain as configured, cheapest first.
    [[nodiscard]] const std::vector<std::string>& chain() const noexcept { return chain_; }
    /// The thresholds as configured, one per tier but the last.
    [[nodiscard]] const std::vector<double>& thresholds() const noexcept { return thresholds_; }

private:
    static AnyChain build(const TierRegistry<Request, Response>& registry, const std::vector<std::string>& chain,
                          const std::vector<double>& thresholds, CascadeOptions options) {
        const std::string who = "cascade::DynamicCascade";
        if (chain.empty()) throw std::invalid_argument(who + ": the chain is empty; name at least one registered tier");
        if (chain.size() > CASCADE_MAX_TIERS) {
            throw std::invalid_argument(who + ": a chain of " + std::to_string(chain.size()) +
                                        " tiers is longer than CASCADE_MAX_TIERS (" +
                                        std::to_string(CASCADE_MAX_TIERS) + "); define it higher before including cascade");
        }
        if (thresholds.size() != chain.size() - 1) {
            throw std::invalid_argument(who + ": a chain of " + std::to_string(chain.size()) + " tiers takes " +
                                        std::to_string(chain.size() - 1) +
                                        " thresholds (one per tier but the last), got " +
                                        std::to_string(thresholds.size()));
        }
        std::vector<Link> links;
        links.reserve(chain.size());
        for (std::size_t i = 0; i < chain.size(); ++i) {
            const std::string& name = chain[i];
            if (!registry.contains(name)) throw std::invalid_argument(registry.unknown(name, who));
            for (std::size_t j = 0; j < i; ++j) {
                if (chain[j] == name) {
                    throw std::invalid_argument(who + ": tier \"" + name + "\" appears twice in the chain");
                }
            }
            std::optional<double> threshold;
            if (i + 1 < chain.size()) {
                const double t = thresholds[i];
                if (!(t >= 0.0 && t <= 1.0)) {
                    throw std::invalid_argument(who + ": threshold " + std::to_string(i + 1) + " (of tier \"" + name +
                                                "\") must be in [0, 1], got " + detail::format_number(t));
                }
                if (!registry.has_verifier(name)) {
                    throw std::invalid_argument(who + ": tier \"" + name + "\" is number " + std::to_string(i + 1) +
                                                " of " + std::to_string(chain.size()) +
                                                " but has no verifier, so it would accept every answer and no later "
                                                "tier would be called; register it with a verifier or put it last");
                }
                threshold = t;
            }
            links.push_back(registry.link(name, threshold));
        }
        return make(links, std::move(options), std::make_index_sequence<CASCADE_MAX_TIERS>{});
    }

    // One constructor per length, picked by the chain's: the only place the length is a number.
    template <std::size_t... Ns>
    static AnyChain make(std::vector<Link>& links, CascadeOptions options, std::index_sequence<Ns...>) {
        using Make = AnyChain (*)(std::vector<Link>&, CascadeOptions);
        static constexpr Make makers[] = {&make_of_length<Ns + 1>...};
        return makers[links.size() - 1](links, std::move(options));
    }

    template <std::size_t N>
    static AnyChain make_of_length(std::vector<Link>& links, CascadeOptions options) {
        return make_from(links, std::move(options), std::make_index_sequence<N>{});
    }

    template <std::size_t... Is>
    static AnyChain make_from(std::vector<Link>& links, CascadeOptions options, std::index_sequence<Is...>) {
        return AnyChain(std::in_place_index<sizeof...(Is) - 1>, std::move(options), std::move(links[Is])...);
    }

    std::vector<std::string> chain_;
    std::vector<double> thresholds_;
    AnyChain cascade_;
};

}  // namespace cascade

#endif  // CASCADE_CORE_DYNAMIC_CASCADE_HPP
