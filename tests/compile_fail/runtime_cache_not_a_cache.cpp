// EXPECT: cascade::with_cache: the cache must be a cascade::LruCache or have what it has
// A std::map has key_type and mapped_type, but no find(key) that gives a pointer, and no put.
#include <cascade/runtime/cache.hpp>

#include <map>
#include <string>

int main() {
    std::map<std::string, int> answers;
    auto model = cascade::with_cache([](const std::string& q) { return static_cast<int>(q.size()); }, answers,
                                     [](const std::string& q) { return q; });
    (void)model;
}
