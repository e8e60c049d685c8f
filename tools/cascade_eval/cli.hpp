// Command-line parsing for cascade-eval: flags with values, switches, and errors that say what
// to fix.
#ifndef CASCADE_EVAL_CLI_HPP
#define CASCADE_EVAL_CLI_HPP

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cascade_eval {

/// A mistake on the command line; main() prints it with the usage hint and exits with 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The options of one command. Every flag must be declared: an unknown one is an error, as is a
/// flag given twice or a value missing.
class Args {
public:
    Args(const std::string& command, const std::vector<std::string>& words, const std::vector<std::string>& with_value,
         const std::vector<std::string>& switches);

    [[nodiscard]] bool has(const std::string& flag) const;
    [[nodiscard]] std::optional<std::string> get(const std::string& flag) const;
    /// The value of a required flag; UsageError when it is absent.
    [[nodiscard]] std::string require(const std::string& flag) const;
    /// A number; UsageError when it does not parse or is not finite.
    [[nodiscard]] std::optional<double> number(const std::string& flag) const;
    /// A whole number >= 0 that fits in 64 bits (any seed).
    [[nodiscard]] std::optional<std::uint64_t> whole(const std::string& flag) const;
    /// A whole number >= 0 that fits in std::size_t (a count or a limit).
    [[nodiscard]] std::optional<std::size_t> count(const std::string& flag) const;
    /// A comma-separated list; UsageError for an empty item.
    [[nodiscard]] std::vector<std::string> list(const std::string& flag) const;

private:
    std::string command_;
    std::map<std::string, std::string> values_;
};

}  // namespace cascade_eval

#endif  // CASCADE_EVAL_CLI_HPP
