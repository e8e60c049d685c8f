// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_CALLABLE_TRAITS_HPP
#define CASCADE_CORE_DETAIL_CALLABLE_TRAITS_HPP

#include <type_traits>

#include "../call_context.hpp"
#include "../token_sink.hpp"
#include "../verdict.hpp"
#include "../config.hpp"

// Which shapes of user callable are accepted where. Each trait answers one question so that a
// refusal can name exactly what was wrong.
namespace cascade::detail {

template <class T>
inline constexpr bool always_false_v = false;

// A model is called as a non-const lvalue (real clients keep state), with the call's context when
// it takes one.
template <class Model, class Request>
inline constexpr bool model_takes_context_v = std::is_invocable_v<Model&, const Request&, const CallContext&>;

// A streaming model takes a TokenSink after the request (and the context after the sink).
template <class Model, class Request>
inline constexpr bool model_streams_with_context_v =
    std::is_invocable_v<Model&, const Request&, TokenSink&, const CallContext&>;

template <class Model, class Request>
inline constexpr bool model_streams_v =
    model_streams_with_context_v<Model, Request> || std::is_invocable_v<Model&, const Request&, TokenSink&>;

template <class Model, class Request>
inline constexpr bool model_callable_v = model_takes_context_v<Model, Request> ||
                                         std::is_invocable_v<Model&, const Request&> ||
                                         model_streams_v<Model, Request>;

// Which of the four shapes a model has, in the order they are tried.
enum class ModelShape { plain, with_context, streaming, streaming_with_context };

template <class Model, class Request>
constexpr ModelShape model_shape() noexcept {
    if constexpr (model_takes_context_v<Model, Request>) {
        return ModelShape::with_context;
    } else if constexpr (std::is_invocable_v<Model&, const Request&>) {
        return ModelShape::plain;
    } else if constexpr (model_streams_with_context_v<Model, Request>) {
        return ModelShape::streaming_with_context;
    } else {
        return ModelShape::streaming;
    }
}

template <class Model, class Request, ModelShape = model_shape<Model, Request>()>
struct model_result {
    using type = std::invoke_result_t<Model&, const Request&>;
};
template <class Model, class Request>
struct model_result<Model, Request, ModelShape::with_context> {
    using type = std::invoke_result_t<Model&, const Request&, const CallContext&>;
};
template <class Model, class Request>
struct model_result<Model, Request, ModelShape::streaming> {
    using type = std::invoke_result_t<Model&, const Request&, TokenSink&>;
};
template <class Model, class Request>
struct model_result<Model, Request, ModelShape::streaming_with_context> {
    using type = std::invoke_result_t<Model&, const Request&, TokenSink&, const CallContext&>;
};

// What the model returns, as written (may be void: refused with a message of its own).
template <class Model, class Request>
using model_result_t = typename model_result<Model, Request>::type;

template <class Model, class Request>
using model_response_t = std::decay_t<model_result_t<Model, Request>>;

// A verdict is a confidence (any arithmetic type but bool), a pass/fail bool, or a Verdict.
template <class R>
inline constexpr bool is_verdict_type_v =
    std::is_arithmetic_v<std::decay_t<R>> || std::is_same_v<std::decay_t<R>, Verdict>;

template <class V, class Request, class Response, class = void>
struct verifier_shape {
    static constexpr bool two_args = false;
    static constexpr bool one_arg = false;
};
template <class V, class Request, class Response>
struct verifier_shape<V, Request, Response,
                      std::enable_if_t<std::is_invocable_v<V&, const Request&, const Response&>>> {
    static constexpr bool two_args =
        is_verdict_type_v<std::invoke_result_t<V&, const Request&, const Response&>>;
    static constexpr bool one_arg = false;
};
template <class V, class Request, class Response>
struct verifier_shape<V, Request, Response,
                      std::enable_if_t<!std::is_invocable_v<V&, const Request&, const Response&> &&
                                       std::is_invocable_v<V&, const Response&>>> {
    static constexpr bool two_args = false;
    static constexpr bool one_arg = is_verdict_type_v<std::invoke_result_t<V&, const Response&>>;
};

template <class V, class Request, class Response>
inline constexpr bool verifier_callable_v =
    verifier_shape<V, Request, Response>::two_args || verifier_shape<V, Request, Response>::one_arg;

template <class Fn, class Request, class Response>
inline constexpr bool cost_two_args_v =
    std::is_invocable_r_v<double, Fn&, const Request&, const Response&>;
template <class Fn, class Request, class Response>
inline constexpr bool cost_callable_v = cost_two_args_v<Fn, Request, Response> ||
                                        std::is_invocable_r_v<double, Fn&, const Response&>;

template <class Scorer, class Request>
inline constexpr bool scorer_callable_v = std::is_invocable_r_v<double, Scorer&, const Request&>;

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_CALLABLE_TRAITS_HPP
