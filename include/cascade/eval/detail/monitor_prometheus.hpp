// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_MONITOR_PROMETHEUS_HPP
#define CASCADE_EVAL_DETAIL_MONITOR_PROMETHEUS_HPP

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../detail/prometheus_format.hpp"

// The few lines of the Prometheus text format (0.0.4) that the quality monitor's metrics need.
// runtime/prometheus.hpp has the full writer, but eval/ may not include runtime/ (the same
// layer); both spell names, labels and numbers with detail/prometheus_format.hpp.
namespace cascade::detail {

class MonitorMetrics {
public:
    using Labels = std::vector<std::pair<std::string, std::string>>;

    MonitorMetrics(std::string_view prefix, const Labels& labels) : prefix_(name(prefix, true)) {
        if (prefix.empty()) {
            throw std::invalid_argument("cascade::prometheus_text: the metric name prefix is empty; give one, e.g. "
                                        "\"quality_monitor\"");
        }
        for (const auto& [key, value] : labels) {
            std::string clean = name(key, false);
            if (clean == "tier") {
                throw std::invalid_argument("cascade::prometheus_text: the label \"tier\" is set by cascade; rename yours");
            }
            for (const std::string& seen : keys_) {
                if (seen == clean) {
                    throw std::invalid_argument("cascade::prometheus_text: the label \"" + clean + "\" appears twice");
                }
            }
            keys_.push_back(clean);
            labels_ += (labels_.empty() ? "" : ",") + clean + "=\"" + escape(value) + '"';
        }
    }

    template <class Number>
    void counter(const char* suffix, const char* help, Number v) {
        add(suffix, "counter", help, labels_, v);
    }
    template <class Number>
    void gauge(const char* suffix, const char* help, Number v) {
        add(suffix, "gauge", help, labels_, v);
    }
    template <class Number>
    void tier_counter(const char* suffix, const char* help, const std::string& tier, Number v) {
        add(suffix, "counter", help, with_tier(tier), v);
    }
    template <class Number>
    void tier_gauge(const char* suffix, const char* help, const std::string& tier, Number v) {
        add(suffix, "gauge", help, with_tier(tier), v);
    }

    // Families in the order first added, each with its samples together.
    [[nodiscard]] std::string str() const {
        std::string out;
        for (const Family& f : families_) {
            out += "# HELP " + f.name + ' ' + f.help + '\n';
            out += "# TYPE " + f.name + ' ' + f.type + '\n';
            out += f.samples;
        }
        return out;
    }

private:
    struct Family {
        std::string name;
        std::string type;
        std::string help;
        std::string samples;
    };

    static std::string name(std::string_view text, bool colon_ok) { return sanitize_metric_name(text, colon_ok); }
    static std::string escape(std::string_view v) { return escape_label_value(v); }
    template <class Number>
    static std::string number(Number v) {
        return metric_number(v);
    }

    [[nodiscard]] std::string with_tier(const std::string& tier) const {
        return labels_ + (labels_.empty() ? "" : ",") + "tier=\"" + escape(tier) + '"';
    }

    template <class Number>
    void add(const char* suffix, const char* type, const char* help, const std::string& labels, Number v) {
        const std::string full = prefix_ + '_' + suffix;
        Family* f = nullptr;
        for (Family& g : families_) {
            if (g.name == full) f = &g;
        }
        if (f == nullptr) {
            families_.push_back(Family{full, type, help, {}});
            f = &families_.back();
        }
        f->samples += full + (labels.empty() ? std::string() : '{' + labels + '}') + ' ' + number(v) + '\n';
    }

    std::string prefix_;
    std::vector<std::string> keys_;
    std::string labels_;
    std::vector<Family> families_;
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_MONITOR_PROMETHEUS_HPP
