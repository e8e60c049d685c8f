// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_TIER_REGISTRY_HPP
#define CASCADE_CORE_TIER_REGISTRY_HPP

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/callable_traits.hpp"
#include "detail/cascade_checks.hpp"
#include "detail/erased_tier.hpp"
#include "hedge.hpp"
#include "tier.hpp"

namespace cascade {

/// Tiers by name, for cascades whose chain is chosen at run time (cascade::DynamicCascade, e.g.
/// from a calibration file): each name maps to a model and, as cascade::tier takes them, its
/// verifier, threshold and cost.
///
///     cascade::TierRegistry<Question, Answer> registry;
///     registry.add("mini", call_mini, confidence, cascade::price_per_call(2e-4));
///     registry.add(cascade::tier("big", call_big, cascade::price_per_call(5e-3)).with_time_limit(10s));
///
/// Every tier's model must take `const Request&` (and optionally a cascade::TokenSink, to stream,
/// and a cascade::CallContext) and return `Response`; a streaming tier keeps its early-exit rule
/// and stall limit (`add(cascade::tier(...).with_early_exit(rule))`).
/// A registered tier is shared by the cascades configured from the registry,
/// and lives as long as the longest of them (or the registry): its callables are called by each,
/// as a Cascade's are when run() is called from several threads.
///
/// Thread-safety: the const members may be called from many threads at once; add() must not
/// overlap any other call.
template <class Request, class Response>
class TierRegistry {
public:
    /// Registers a tier made with cascade::tier(...), with its time limit and cost estimate if
    /// it has them. Throws std::invalid_argument when a tier of that name is registered already.
    /// A hedged tier (with_hedge_after) is refused at compile time.
    template <class TierT, std::enable_if_t<detail::is_tier_v<TierT>, int> = 0>
    void add(TierT tier) {
        static_assert(!detail::is_hedged_v<TierT>,
                      "cascade::TierRegistry::add: a hedged tier (with_hedge_after) cannot be registered; a chain "
                      "configured at run time does not hedge: register the tier without the hedge");
        if constexpr (detail::cascade_accepts<Request, TierT>()) {
            static_assert(std::is_same_v<detail::model_response_t<typename TierT::model_type, Request>, Response>,
                          "cascade::TierRegistry::add: the tier's model must return the registry's Response type "
                          "for its Request; wrap the model to convert its answer");
            if (find(tier.name()) != nullptr) {
                throw std::invalid_argument("cascade::TierRegistry::add: a tier named \"" + tier.name() +
                                            "\" is registered already; give each tier a name of its own");
            }
            Entry entry;
            entry.name = tier.name();
            entry.has_verifier = TierT::has_verifier();
            entry.threshold = tier.threshold();
            auto held = std::make_shared<TierT>(std::move(tier));
            entry.tier = held;
            entry.make = [](const std::shared_ptr<void>& registered, double threshold) {
                return detail::ErasedTier<Request, Response>(std::static_pointer_cast<TierT>(registered), threshold);
            };
            entries_.push_back(std::move(entry));
        }
    }

    /// Registers cascade::tier(name, args...): `add("mini", call_mini, confidence, 0.8,
    /// cascade::price_per_call(2e-4))`. Throws as add(tier) does.
    template <class Model, class... Rest>
    void add(std::string name, Model&& model, Rest&&... rest) {
        add(tier(std::move(name), std::forward<Model>(model), std::forward<Rest>(rest)...));
    }

    [[nodiscard]] bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    /// The names, in the order they were registered.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(entries_.size());
        for (const Entry& e : entries_) out.push_back(e.name);
        return out;
    }

    /// Whether the tier named `name` has a verifier (false for an unknown name).
    [[nodiscard]] bool has_verifier(std::string_view name) const noexcept {
        const Entry* e = find(name);
        return e != nullptr && e->has_verifier;
    }

    /// The named tier as one link of a chain, with `threshold` for its verifier (the tier's own
    /// when empty). For DynamicCascade; throws std::invalid_argument for an unknown name.
    [[nodiscard]] detail::ErasedTier<Request, Response> link(std::string_view name,
                                                             std::optional<double> threshold) const {
        const Entry* e = find(name);
        if (e == nullptr) throw std::invalid_argument(unknown(name, "cascade::TierRegistry"));
        return e->make(e->tier, threshold ? *threshold : e->threshold);
    }

    /// "unknown tier \"x\"; registered: \"a\", \"b\"": the message for a name not registered.
    [[nodiscard]] std::string unknown(std::string_view name, std::string_view who) const {
        std::string out = std::string(who) + ": unknown tier \"" + std::string(name) + "\"; ";
        if (entries_.empty()) return out + "no tier is registered";
        out += "registered:";
        for (std::size_t i = 0; i < entries_.size(); ++i) out += (i ? ", \"" : " \"") + entries_[i].name + "\"";
        return out;
    }

private:
    struct Entry {
        std::string name;
        bool has_verifier = false;
        double threshold = 0.0;      // its own, as registered
        std::shared_ptr<void> tier;  // the registered Tier<...>, whose type `make` knows
        detail::ErasedTier<Request, Response> (*make)(const std::shared_ptr<void>&, double) = nullptr;
    };

    [[nodiscard]] const Entry* find(std::string_view name) const noexcept {
        for (const Entry& e : entries_) {
            if (e.name == name) return &e;
        }
        return nullptr;
    }

    std::vector<Entry> entries_;
};

}  // namespace cascade

#endif  // CASCADE_CORE_TIER_REGISTRY_HPP
