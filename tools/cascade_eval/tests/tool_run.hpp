// Running cascade-eval from a test: its fixtures, its exit code and both of its streams.
//
// Each test program writes to a folder of its own below the working directory, named by
// CASCADE_EVAL_FIXTURES, so that programs run in parallel never share a captured stream.
#ifndef CASCADE_EVAL_TESTS_TOOL_RUN_HPP
#define CASCADE_EVAL_TESTS_TOOL_RUN_HPP

#include "catch.hpp"

#include <cascade/detail/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#ifndef CASCADE_EVAL_EXE
#error "CASCADE_EVAL_EXE must name the cascade-eval program"
#endif
#ifndef CASCADE_EVAL_FIXTURES
#error "CASCADE_EVAL_FIXTURES must name the test program's fixture folder"
#endif

namespace cascade_eval_tests {

struct Run {
    int code = -1;
    std::string out;
    std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline const std::filesystem::path& dir() {
    static const std::filesystem::path d = [] {
        std::filesystem::path p = std::filesystem::current_path() / CASCADE_EVAL_FIXTURES;
        std::filesystem::create_directories(p);
        return p;
    }();
    return d;
}

inline std::filesystem::path write(const std::string& name, const std::string& text) {
    const std::filesystem::path p = dir() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

// Single-quoted for the shell, whatever the argument holds.
inline std::string quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs cascade-eval with `args` through the shell, capturing both streams.
inline Run run(const std::vector<std::string>& args) {
    std::string cmd = quote(CASCADE_EVAL_EXE);
    for (const std::string& a : args) cmd += " " + quote(a);
    const std::filesystem::path out = dir() / "stdout.txt";
    const std::filesystem::path err = dir() / "stderr.txt";
    cmd += " > " + quote(out.string()) + " 2> " + quote(err.string());
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

// A member of a JSON object, failing the test with the object shown when it is missing.
inline const cascade::detail::JsonValue& at(const cascade::detail::JsonValue& v, const char* key) {
    const cascade::detail::JsonValue* x = v.find(key);
    if (!x) FAIL("no key " << key << " in " << v.dump());
    return *x;
}

}  // namespace cascade_eval_tests

#endif  // CASCADE_EVAL_TESTS_TOOL_RUN_HPP
