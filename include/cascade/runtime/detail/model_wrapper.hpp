// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_DETAIL_MODEL_WRAPPER_HPP
#define CASCADE_RUNTIME_DETAIL_MODEL_WRAPPER_HPP

#include <type_traits>

#include "../../core/call_context.hpp"
#include "../../core/detail/callable_traits.hpp"

namespace cascade::detail {

// The call operators of every runtime wrapper (retry, breaker, budget, cache, concurrency
// limit), written once. A wrapper accepts the call's context whether or not its model does, so
// that the cascade always passes it and a model further in still gets it; called without one, the
// wrapper sees a null context. A wrapper of a streaming model streams too: it takes the sink and
// hands it on. All forward to the wrapper's own
//
//     template <class Request>
//     model_response_t<Model, Request> call(const Request& request, const CallContext* context,
//                                           TokenSink* sink);   // null unless the model streams
//
// which it may keep private by befriending this base. The base is empty and the forwarding is a
// static_cast, so a wrapper costs what its call() costs. The operators take part in overload
// resolution only for a Request the model accepts, in the model's own shape, so traits that ask
// whether the wrapper is callable (or streams) get the model's answer.
template <class Derived, class Model>
class ModelWrapper {
    // The shapes the cascade calls the wrapper in: those of its model, in the order call_tier
    // tries them (a model that answers whole is called so, even if it could stream too).
    template <class Request>
    static constexpr bool answers_whole() noexcept {
        if constexpr (model_callable_v<Model, Request>) {
            constexpr ModelShape shape = model_shape<Model, Request>();
            return shape == ModelShape::plain || shape == ModelShape::with_context;
        } else {
            return false;
        }
    }
    template <class Request>
    static constexpr bool streams() noexcept {
        return model_callable_v<Model, Request> && !answers_whole<Request>();
    }

public:
    template <class Request, std::enable_if_t<answers_whole<Request>(), int> = 0>
    model_response_t<Model, Request> operator()(const Request& request) {
        return static_cast<Derived&>(*this).call(request, nullptr, nullptr);
    }

    template <class Request, std::enable_if_t<answers_whole<Request>(), int> = 0>
    model_response_t<Model, Request> operator()(const Request& request, const CallContext& context) {
        return static_cast<Derived&>(*this).call(request, &context, nullptr);
    }

    template <class Request, std::enable_if_t<streams<Request>(), int> = 0>
    model_response_t<Model, Request> operator()(const Request& request, TokenSink& sink) {
        return static_cast<Derived&>(*this).call(request, nullptr, &sink);
    }

    template <class Request, std::enable_if_t<streams<Request>(), int> = 0>
    model_response_t<Model, Request> operator()(const Request& request, TokenSink& sink,
                                                const CallContext& context) {
        return static_cast<Derived&>(*this).call(request, &context, &sink);
    }
};

}  // namespace cascade::detail

#endif  // CASCADE_RUNTIME_DETAIL_MODEL_WRAPPER_HPP
