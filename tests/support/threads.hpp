// SPDX-License-Identifier: MIT
// Many threads calling one object at once, as the concurrency tests of the runtime do.
#ifndef CASCADE_TESTS_THREADS_HPP
#define CASCADE_TESTS_THREADS_HPP

#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

namespace cascade_test {

// Calls body(thread, call) for call = 0 .. calls_per_thread - 1 on each of `threads` threads,
// which all run at once, and returns when every thread is done.
template <class Body>
void on_threads(int threads, int calls_per_thread, Body body) {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&body, t, calls_per_thread] {
            for (int i = 0; i < calls_per_thread; ++i) body(t, i);
        });
    }
    for (std::thread& th : pool) th.join();
}

// Polls `done` until it holds; false when `safety` runs out first, which the calling test turns
// into a failure (something a thread should have done never happened).
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds safety = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + safety;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

}  // namespace cascade_test

#endif  // CASCADE_TESTS_THREADS_HPP
