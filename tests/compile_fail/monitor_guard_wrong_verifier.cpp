// EXPECT: cascade::QualityMonitor::guard: the verifier must be callable as
// A verifier of another response type than the monitor's.
#include <cascade/eval/quality_monitor.hpp>

#include <cstddef>
#include <string>

int main() {
    cascade::QualityMonitor<std::string, std::string> monitor(
        {"mini", "big"}, [](const std::string&, const std::string&, std::size_t) { return cascade::MonitorLabel{}; });
    auto guarded = monitor.guard(0, [](const int&) { return 0.5; }, 0.8);
    (void)guarded;
}
