// EXPECT: cascade::QualityMonitor: the labeller must be callable as
// A labeller that forgets the tier and returns a bare quality.
#include <cascade/eval/quality_monitor.hpp>

#include <string>

int main() {
    cascade::QualityMonitor<std::string, std::string> monitor(
        {"mini", "big"}, [](const std::string&, const std::string&) { return 1.0; });
    (void)monitor;
}
