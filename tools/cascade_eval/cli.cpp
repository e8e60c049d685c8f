#include "cli.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <cascade/detail/number.hpp>

namespace cascade_eval {

Args::Args(const std::string& command, const std::vector<std::string>& words, const std::vector<std::string>& with_value,
           const std::vector<std::string>& switches)
    : command_(command) {
    auto known = [](const std::vector<std::string>& set, const std::string& flag) {
        return std::find(set.begin(), set.end(), flag) != set.end();
    };
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string flag = words[i];
        std::optional<std::string> inline_value;
        if (flag.rfind("--", 0) == 0) {
            const std::size_t eq = flag.find('=');
            if (eq != std::string::npos) {
                inline_value = flag.substr(eq + 1);
                flag = flag.substr(0, eq);
            }
        } else {
            throw UsageError("unexpected argument \"" + flag + "\" for '" + command_ + "' (options start with --)");
        }
        if (values_.count(flag)) throw UsageError("option " + flag + " is given twice");
        if (known(with_value, flag)) {
            if (inline_value) {
                values_[flag] = *inline_value;
            } else {
                if (i + 1 >= words.size() || words[i + 1].rfind("--", 0) == 0) {
                    throw UsageError("option " + flag + " needs a value");
                }
                values_[flag] = words[++i];
            }
            if (values_[flag].empty()) throw UsageError("option " + flag + " needs a value");
        } else if (known(switches, flag)) {
            if (inline_value) throw UsageError("option " + flag + " takes no value");
            values_[flag] = "";
        } else {
            throw UsageError("unknown option " + flag + " for '" + command_ + "'");
        }
    }
}

bool Args::has(const std::string& flag) const { return values_.count(flag) != 0; }

std::optional<std::string> Args::get(const std::string& flag) const {
    const auto it = values_.find(flag);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::string Args::require(const std::string& flag) const {
    if (auto v = get(flag)) return *v;
    throw UsageError("'" + command_ + "' needs " + flag);
}

std::optional<double> Args::number(const std::string& flag) const {
    const auto v = get(flag);
    if (!v) return std::nullopt;
    double x = 0.0;
    if (!cascade::detail::parse_number(*v, x) || !std::isfinite(x)) {
        throw UsageError("option " + flag + ": \"" + *v + "\" is not a finite number");
    }
    return x;
}

std::optional<std::uint64_t> Args::whole(const std::string& flag) const {
    const auto v = get(flag);
    if (!v) return std::nullopt;
    if (v->empty() || v->find_first_not_of("0123456789") != std::string::npos) {
        throw UsageError("option " + flag + ": \"" + *v + "\" is not a whole number");
    }
    constexpr std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t x = 0;
    for (const char c : *v) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (x > (most - digit) / 10) {
            throw UsageError("option " + flag + ": " + *v + " is larger than " + std::to_string(most));
        }
        x = x * 10 + digit;
    }
    return x;
}

std::optional<std::size_t> Args::count(const std::string& flag) const {
    const auto x = whole(flag);
    if (!x) return std::nullopt;
    if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t)) {
        if (*x > std::numeric_limits<std::size_t>::max()) {
            throw UsageError("option " + flag + ": " + *get(flag) + " is larger than " +
                             std::to_string(std::numeric_limits<std::size_t>::max()));
        }
    }
    return static_cast<std::size_t>(*x);
}

std::vector<std::string> Args::list(const std::string& flag) const {
    std::vector<std::string> out;
    const auto v = get(flag);
    if (!v) return out;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = v->find(',', start);
        const std::string item = v->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty()) throw UsageError("option " + flag + ": empty item in \"" + *v + "\"");
        out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

}  // namespace cascade_eval
