// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_ERASED_TIER_HPP
#define CASCADE_CORE_DETAIL_ERASED_TIER_HPP

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "../call_context.hpp"
#include "../cost.hpp"
#include "../result.hpp"
#include "../tier.hpp"

// A registered tier behind one indirect call, so that a chain of them chosen at run time is a
// plain Cascade<ErasedTier, ...>: the static cascade's own loop runs it, with its traces, stats,
// events, limits and error handling, and nothing of it is written twice.
namespace cascade::detail {

// A user's callable seen through a pointer, callable in exactly the shapes the callable is (so
// that call_tier picks the same model, verifier and cost signatures) and returning what it does.
// The registry owns the callable; the cascades it configures share it.
template <class F>
class CallableRef {
public:
    explicit CallableRef(F& f) noexcept : f_(&f) {}

    template <class... Args>
    auto operator()(Args&&... args) -> decltype(std::declval<F&>()(std::forward<Args>(args)...)) {
        return (*f_)(std::forward<Args>(args)...);
    }

private:
    F* f_;
};

template <class Verifier>
struct verifier_view {
    using type = CallableRef<Verifier>;
    static type of(Verifier& v) { return type(v); }
};
template <>
struct verifier_view<NoVerifier> {
    using type = NoVerifier;
    static type of(NoVerifier&) { return {}; }
};

template <class Cost>
struct cost_view {
    using type = FixedCost;
    static type of(FixedCost& c) { return c; }
};
template <class Fn>
struct cost_view<ComputedCost<Fn>> {
    using type = ComputedCost<CallableRef<Fn>>;
    static type of(ComputedCost<Fn>& c) { return type{CallableRef<Fn>(c.fn)}; }
};

// A tier of the same shape as `TierT` that calls its callables, with a threshold of its own.
template <class TierT>
using tier_view_t = Tier<CallableRef<typename TierT::model_type>,
                         typename verifier_view<typename TierT::verifier_type>::type,
                         typename cost_view<typename TierT::cost_type>::type>;

template <class TierT>
tier_view_t<TierT> make_tier_view(TierT& source, double threshold) {
    using V = typename TierT::verifier_type;
    using C = typename TierT::cost_type;
    tier_view_t<TierT> view(source.name(), CallableRef<typename TierT::model_type>(source.model()),
                            verifier_view<V>::of(source.verifier()), threshold, cost_view<C>::of(source.cost()));
    if (const auto limit = source.time_limit()) std::move(view).with_time_limit(*limit);
    if (const auto estimate = source.cost_estimate()) std::move(view).with_cost_estimate(*estimate);
    const StreamSettings& stream = source.stream_settings();
    if (stream.early_exit) std::move(view).with_early_exit(stream.early_exit);
    if (stream.stall_limit) std::move(view).with_stall_limit(*stream.stall_limit);
    return view;
}

// One tier of a chain configured at run time: what Cascade reads of a tier (name, threshold,
// price, estimate, time limit) as values, and the call through a function pointer made for the
// registered tier's type. Cheap to copy and move: copies share the registered tier.
template <class Request, class Response>
class ErasedTier {
public:
    // What Cascade::run checks a tier's callables by: this tier serves Request with Response.
    // Never called; call() is (see detail::attempt).
    struct model_type {
        Response operator()(const Request&, const CallContext&);
    };
    using verifier_type = NoVerifier;
    using cost_type = FixedCost;
    using makes_own_calls = void;

    // `source` is the registered tier, kept alive while this tier lives; `threshold` is the one
    // its place in the chain gives it.
    template <class TierT>
    ErasedTier(std::shared_ptr<TierT> source, double threshold)
        : name_(source->name()),
          fixed_price_(source->fixed_price()),
          cost_estimate_(source->cost_estimate()),
          time_limit_(source->time_limit()) {
        using View = tier_view_t<TierT>;
        struct State {
            std::shared_ptr<TierT> source;
            View view;
        };
        View view = make_tier_view(*source, threshold);
        threshold_ = view.threshold();
        auto state = std::make_shared<State>(State{std::move(source), std::move(view)});
        view_ = &state->view;
        state_ = std::move(state);
        call_ = [](void* v, const Request& request, const CallContext& context, Attempt& a) {
            return call_tier<Response>(*static_cast<View*>(v), request, context, a);
        };
    }

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] double threshold() const noexcept { return threshold_; }
    [[nodiscard]] std::optional<double> fixed_price() const noexcept { return fixed_price_; }
    [[nodiscard]] std::optional<double> cost_estimate() const noexcept { return cost_estimate_; }
    [[nodiscard]] std::optional<std::chrono::nanoseconds> time_limit() const noexcept { return time_limit_; }

    AttemptOutcome<Response> call(const Request& request, const CallContext& context, Attempt& a) {
        return call_(view_, request, context, a);
    }

private:
    std::string name_;
    double threshold_ = 0.0;
    std::optional<double> fixed_price_;
    std::optional<double> cost_estimate_;
    std::optional<std::chrono::nanoseconds> time_limit_;
    std::shared_ptr<void> state_;
    void* view_ = nullptr;
    AttemptOutcome<Response> (*call_)(void*, const Request&, const CallContext&, Attempt&) = nullptr;
};

template <class Request, class Response>
struct is_tier<ErasedTier<Request, Response>> : std::true_type {};

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_ERASED_TIER_HPP
