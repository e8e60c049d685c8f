// The workload the overhead benchmarks share: a query carries the confidence the cheap model
// will report, so one set of trivial callables serves both the accepted and the escalating cases,
// and what a benchmark measures beside them is the library's own work.
#ifndef CASCADE_BENCHMARKS_OVERHEAD_WORKLOAD_HPP
#define CASCADE_BENCHMARKS_OVERHEAD_WORKLOAD_HPP

#include <cstdint>

namespace overhead_workload {

struct Query {
    std::uint64_t id;
    double confidence;
};
struct Answer {
    std::uint64_t token;
    double confidence;
};

constexpr double easy = 0.9;  // the cheap tier accepts
constexpr double hard = 0.1;  // the cheap tier rejects; the router sends it to the big tier
constexpr double threshold = 0.5;
constexpr double cheap_price = 0.0002;
constexpr double big_price = 0.005;

inline auto cheap_model() {
    return [](const Query& q) { return Answer{q.id * 0x9E3779B97F4A7C15ULL, q.confidence}; };
}
inline auto big_model() {
    return [](const Query& q) { return Answer{q.id ^ 0xC2B2AE3D27D4EB4FULL, 1.0}; };
}
inline auto confidence() {
    return [](const Query&, const Answer& a) { return a.confidence; };
}
inline auto difficulty() {
    return [](const Query& q) { return 1.0 - q.confidence; };
}

}  // namespace overhead_workload

#endif  // CASCADE_BENCHMARKS_OVERHEAD_WORKLOAD_HPP
