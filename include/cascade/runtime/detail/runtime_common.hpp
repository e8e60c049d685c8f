// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_DETAIL_RUNTIME_COMMON_HPP
#define CASCADE_RUNTIME_DETAIL_RUNTIME_COMMON_HPP

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "../../core/call_context.hpp"
#include "../../core/detail/callable_traits.hpp"

namespace cascade::detail {

// "1.5 ms", "2 s": durations in configuration errors, read by people.
inline std::string describe_duration(std::chrono::nanoseconds d) {
    const double ns = static_cast<double>(d.count());
    char buf[48];
    if (std::fabs(ns) >= 1e9) {
        std::snprintf(buf, sizeof buf, "%g s", ns / 1e9);
    } else if (std::fabs(ns) >= 1e6) {
        std::snprintf(buf, sizeof buf, "%g ms", ns / 1e6);
    } else if (std::fabs(ns) >= 1e3) {
        std::snprintf(buf, sizeof buf, "%g us", ns / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%lld ns", static_cast<long long>(d.count()));
    }
    return buf;
}

inline std::string describe_number(double x) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
}

// Whether what was thrown is (or derives from) E; works for types outside std::exception too.
template <class E>
bool thrown_is(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const E&) {
        return true;
    } catch (...) {
        return false;
    }
}

// Calls a wrapped model with the call's context when it takes one, and with the stream's sink
// when it streams. A wrapper accepts the context whether or not its model does, so that the
// cascade always passes it (a retry stops at the deadline) and a model further in still gets it.
// A streaming model is only ever called with a sink: the wrappers' call operators for it take one.
template <class Model, class Request>
model_response_t<Model, Request> call_model(Model& model, const Request& request, const CallContext* context,
                                            TokenSink* sink = nullptr) {
    constexpr ModelShape shape = model_shape<Model, Request>();
    if constexpr (shape == ModelShape::with_context) {
        return context ? model(request, *context) : model(request, CallContext{});
    } else if constexpr (shape == ModelShape::plain) {
        return model(request);
    } else if constexpr (shape == ModelShape::streaming_with_context) {
        return context ? model(request, *sink, *context) : model(request, *sink, CallContext{});
    } else {
        return model(request, *sink);
    }
}

}  // namespace cascade::detail

#endif  // CASCADE_RUNTIME_DETAIL_RUNTIME_COMMON_HPP
