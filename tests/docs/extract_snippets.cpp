// Turns the ```cpp blocks of one Markdown document into C++ sources, so that the build compiles
// every example the documentation shows. The Markdown stays the only copy of each example.
//
//     extract_snippets <document.md> <output dir> <stem> [--prelude <header>] [--programs a,b,...]
//
// A block is read as the kind named by an HTML comment on the line before its fence (blank lines
// may come between); without one it is a fragment:
//     <!-- snippet: fragment [CONTEXT] -->     statements: the body of a function of their own
//     <!-- snippet: expressions [CONTEXT] -->  one expression a line (a listing of calls); each
//                                              is evaluated and discarded
//     <!-- snippet: declarations -->           namespace-scope declarations, at global scope, so
//                                              the blocks after them see them
//     <!-- snippet: program NAME -->           a whole program, compiled as written into
//                                              <stem>.NAME.cpp
// Fragments, declarations and expressions of a document share one translation unit,
// <stem>.snippets.cpp, after their #include lines (hoisted) and the document's prelude, which
// declares what they assume (the models, the Request type...). A fragment that uses names other
// blocks declare for themselves (a `budget` made in one recipe and read in the next) names a
// CONTEXT: its function is then defined in namespace snippet_context::CONTEXT, where the prelude
// declares those names, so that they shadow nothing in the other blocks. Blocks that include
// {fmt} go to <stem>.fmt_snippets.cpp instead, built only when {fmt} is found, and blocks that
// include the Redis integration to <stem>.redis_snippets.cpp, built only when hiredis is found.
// #line directives
// make the compiler report errors at the document's own lines.
//
// The names after --programs are those the build expects: a program marker it did not see (a
// misspelt marker, say) is an error here rather than an example silently left out.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

enum class Kind { fragment, declarations, expressions, program };

struct Snippet {
    Kind kind = Kind::fragment;
    std::string program_name;
    std::string context;
    std::size_t first_line = 0;  // 1-based line of the first line of code in the document
    std::vector<std::string> lines;
};

struct DocumentError : std::runtime_error {
    DocumentError(const std::string& document, std::size_t line, const std::string& what)
        : std::runtime_error(document + ":" + std::to_string(line) + ": " + what) {}
};

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

std::size_t indentation(const std::string& s) {
    const auto first = s.find_first_not_of(' ');
    return first == std::string::npos ? s.size() : first;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool is_include(const std::string& line) {
    const std::string t = trim(line);
    if (t.empty() || t[0] != '#') return false;
    return starts_with(trim(t.substr(1)), "include");
}

bool uses_fmt(const Snippet& s) {
    for (const auto& line : s.lines) {
        if (is_include(line) &&
            (line.find("<fmt/") != std::string::npos || line.find("cascade/integration/fmt.hpp") != std::string::npos)) {
            return true;
        }
    }
    return false;
}

bool uses_redis(const Snippet& s) {
    for (const auto& line : s.lines) {
        if (is_include(line) && line.find("cascade/integration/redis") != std::string::npos) return true;
    }
    return false;
}

bool valid_name(const std::string& name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

// "<!-- snippet: KIND [NAME] -->": returns false for a line that is not a marker at all.
bool parse_marker(const std::string& line, const std::string& document, std::size_t line_number, Snippet& into) {
    const std::string t = trim(line);
    const std::string open = "<!-- snippet:";
    const std::string close = "-->";
    if (!starts_with(t, open)) {
        // A marker the build would not read leaves its block a fragment without a word: refuse it.
        if (starts_with(t, "<!--") && t.find("snippet") != std::string::npos) {
            throw DocumentError(document, line_number, "write a snippet marker as <!-- snippet: KIND [NAME] -->");
        }
        return false;
    }
    if (t.size() < open.size() + close.size() || t.compare(t.size() - close.size(), close.size(), close) != 0) {
        throw DocumentError(document, line_number, "a snippet marker must be one line ending in -->");
    }
    std::istringstream words(t.substr(open.size(), t.size() - open.size() - close.size()));
    std::string kind;
    std::string name;
    std::string extra;
    words >> kind >> name >> extra;
    if (!extra.empty()) throw DocumentError(document, line_number, "unexpected \"" + extra + "\" in the snippet marker");
    if (kind == "fragment") {
        into.kind = Kind::fragment;
    } else if (kind == "declarations") {
        into.kind = Kind::declarations;
    } else if (kind == "expressions") {
        into.kind = Kind::expressions;
    } else if (kind == "program") {
        into.kind = Kind::program;
        if (!valid_name(name)) {
            throw DocumentError(document, line_number,
                                "a program snippet needs a name of [a-z0-9_]: <!-- snippet: program NAME -->");
        }
        into.program_name = name;
        return true;
    } else {
        throw DocumentError(document, line_number,
                            "unknown snippet kind \"" + kind + "\" (fragment, declarations, expressions, program)");
    }
    if (!name.empty()) {
        if (into.kind == Kind::declarations) {
            throw DocumentError(document, line_number, "declarations take no context: they are global");
        }
        if (!valid_name(name)) throw DocumentError(document, line_number, "a context is named with [a-z0-9_]");
        into.context = name;
    }
    return true;
}

std::vector<Snippet> read_snippets(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("extract_snippets: cannot open " + path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }

    std::vector<Snippet> snippets;
    std::optional<Snippet> pending_marker;
    std::size_t marker_line = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::size_t line_number = i + 1;
        const std::string t = trim(lines[i]);
        Snippet marked;
        if (parse_marker(lines[i], path, line_number, marked)) {
            if (pending_marker) throw DocumentError(path, marker_line, "a snippet marker without its ```cpp block");
            pending_marker = marked;
            marker_line = line_number;
            continue;
        }
        if (!starts_with(t, "```")) {
            if (!t.empty() && pending_marker) {
                throw DocumentError(path, marker_line, "a snippet marker must come right before a ```cpp block");
            }
            continue;
        }
        // A fence opens: find where it closes, at most as indented as it opened.
        const std::size_t indent = indentation(lines[i]);
        const std::string language = trim(t.substr(3));
        std::size_t close = i + 1;
        while (close < lines.size() && !(trim(lines[close]) == "```" && indentation(lines[close]) <= indent)) ++close;
        if (close == lines.size()) throw DocumentError(path, line_number, "a code block that is never closed");

        const bool is_cpp = language == "cpp" || language == "c++";
        if (!is_cpp) {
            if (pending_marker) {
                throw DocumentError(path, marker_line, "a snippet marker before a ```" + language + " block, not ```cpp");
            }
            i = close;
            continue;
        }
        Snippet s = pending_marker ? *pending_marker : Snippet{};
        pending_marker.reset();
        s.first_line = line_number + 1;
        for (std::size_t j = i + 1; j < close; ++j) {
            // Lines of a block inside a list item carry the item's indentation: drop it.
            const std::string& line = lines[j];
            s.lines.push_back(indentation(line) >= indent ? line.substr(std::min(indent, line.size())) : trim(line));
        }
        if (s.lines.empty()) throw DocumentError(path, line_number, "an empty ```cpp block");
        snippets.push_back(std::move(s));
        i = close;
    }
    if (pending_marker) throw DocumentError(path, marker_line, "a snippet marker without its ```cpp block");
    return snippets;
}

std::string quoted_path(const std::string& path) {
    std::string out = "\"";
    for (char c : path) {
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string line_directive(std::size_t line, const std::string& document) {
    return "#line " + std::to_string(line) + " " + quoted_path(document) + "\n";
}

const char* const generated_note =
    "// Generated from the document named in the #line directives below: edit the document, not this file.\n";

// Fragments, declarations and expressions in document order, after every #include they hold.
std::string translation_unit(const std::vector<const Snippet*>& snippets, const std::string& document,
                             const std::string& prelude) {
    std::string includes;
    std::set<std::string> seen;
    for (const Snippet* s : snippets) {
        for (std::size_t k = 0; k < s->lines.size(); ++k) {
            const std::string include = trim(s->lines[k]);
            if (is_include(s->lines[k]) && seen.insert(include).second) {
                includes += line_directive(s->first_line + k, document) + include + "\n";
            }
        }
    }
    std::string out = generated_note + includes;
    if (!prelude.empty()) out += "#include " + quoted_path(prelude) + "\n";

    for (const Snippet* s : snippets) {
        const std::string at = std::to_string(s->first_line);
        std::string body = line_directive(s->first_line, document);
        for (std::size_t k = 0; k < s->lines.size(); ++k) {
            const std::string& line = s->lines[k];
            if (is_include(line)) {
                body += "\n";  // hoisted above; the blank keeps the line numbers
            } else if (s->kind == Kind::expressions && !trim(line).empty() && !starts_with(trim(line), "//")) {
                // The closing parenthesis goes on a line of its own, after any trailing comment.
                body += "static_cast<void>(" + line + "\n);\n" + line_directive(s->first_line + k + 1, document);
            } else {
                body += line + "\n";
            }
        }
        switch (s->kind) {
            case Kind::declarations:
                out += "\n" + body;
                break;
            case Kind::fragment:
            case Kind::expressions: {
                const std::string function = "cascade_docs_snippet_at_line_" + at + "()";
                const std::string definition = "void " + function + ";\nvoid " + function + " {\n" + body + "}\n";
                if (s->context.empty()) {
                    out += "\n" + definition;
                } else {
                    out += "\nnamespace snippet_context::" + s->context + " {\n" + definition + "}\n";
                }
                break;
            }
            case Kind::program:
                break;
        }
    }
    return out;
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw std::runtime_error("extract_snippets: cannot write " + path);
}

std::set<std::string> split_names(const std::string& list) {
    std::set<std::string> names;
    std::istringstream in(list);
    for (std::string name; std::getline(in, name, ',');) {
        if (!name.empty()) names.insert(name);
    }
    return names;
}

int run(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: extract_snippets <document.md> <output dir> <stem> [--prelude <header>] "
                     "[--programs a,b,...]\n";
        return 2;
    }
    const std::string document = argv[1];
    const std::string output_dir = argv[2];
    const std::string stem = argv[3];
    std::string prelude;
    std::set<std::string> expected_programs;
    for (int a = 4; a < argc; ++a) {
        const std::string option = argv[a];
        if (a + 1 >= argc) {
            std::cerr << "extract_snippets: " << option << " needs a value\n";
            return 2;
        }
        const std::string value = argv[++a];
        if (option == "--prelude") {
            prelude = value;
        } else if (option == "--programs") {
            expected_programs = split_names(value);
        } else {
            std::cerr << "extract_snippets: unknown option " << option << "\n";
            return 2;
        }
    }

    const std::vector<Snippet> snippets = read_snippets(document);
    std::vector<const Snippet*> plain;
    std::vector<const Snippet*> with_fmt;
    std::vector<const Snippet*> with_redis;
    std::set<std::string> programs;
    for (const Snippet& s : snippets) {
        if (s.kind == Kind::program) {
            if (!programs.insert(s.program_name).second) {
                throw DocumentError(document, s.first_line - 1, "a second program named " + s.program_name);
            }
            if (uses_fmt(s) || uses_redis(s)) {
                throw DocumentError(document, s.first_line - 1,
                                    "a program snippet cannot use {fmt} or the Redis integration (it would be built "
                                    "without them): make it a fragment");
            }
            if (expected_programs.count(s.program_name) == 0) {
                throw DocumentError(document, s.first_line - 1,
                                    "the build does not know the program " + s.program_name +
                                        ": re-run CMake, and write the marker as <!-- snippet: program NAME -->");
            }
            std::string code = generated_note + line_directive(s.first_line, document);
            for (const auto& line : s.lines) code += line + "\n";
            write_file(output_dir + "/" + stem + "." + s.program_name + ".cpp", code);
        } else if (uses_fmt(s) && uses_redis(s)) {
            throw DocumentError(document, s.first_line - 1,
                                "a snippet cannot use both {fmt} and the Redis integration: split it");
        } else {
            (uses_redis(s) ? with_redis : uses_fmt(s) ? with_fmt : plain).push_back(&s);
        }
    }
    for (const auto& name : expected_programs) {
        if (programs.count(name) == 0) {
            std::cerr << document << ": the build expects a program snippet named " << name << ", which is not there\n";
            return 1;
        }
    }
    write_file(output_dir + "/" + stem + ".snippets.cpp", translation_unit(plain, document, prelude));
    write_file(output_dir + "/" + stem + ".fmt_snippets.cpp", translation_unit(with_fmt, document, prelude));
    write_file(output_dir + "/" + stem + ".redis_snippets.cpp", translation_unit(with_redis, document, prelude));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
