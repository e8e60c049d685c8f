// The commands of cascade-eval. Each takes the words after its name and returns an exit code;
// errors are thrown (cascade::ParseError, UsageError, std::invalid_argument) and reported by main.
#ifndef CASCADE_EVAL_COMMANDS_HPP
#define CASCADE_EVAL_COMMANDS_HPP

#include <string>
#include <vector>

namespace cascade_eval {

int run_calibrate(const std::vector<std::string>& words);
int run_curve(const std::vector<std::string>& words);
int run_split(const std::vector<std::string>& words);
int run_route(const std::vector<std::string>& words);
int run_monitor(const std::vector<std::string>& words);
int run_stream(const std::vector<std::string>& words);

/// The usage text of all commands.
const char* usage();

}  // namespace cascade_eval

#endif  // CASCADE_EVAL_COMMANDS_HPP
