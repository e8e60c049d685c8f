#include "catch.hpp"

#include <cascade/runtime/batch.hpp>
#include <cascade/cascade.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::vector<int> iota_requests(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back(i);
    return v;
}

// A fixed pool of threads: the kind of executor users pass.
class TestPool {
public:
    explicit TestPool(int n) {
        for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~TestPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        ready_.notify_all();
        for (auto& t : threads_) t.join();
    }
    TestPool(const TestPool&) = delete;
    TestPool& operator=(const TestPool&) = delete;

    cascade::Executor executor() {
        return [this](std::function<void()> task) {
            submitted_.fetch_add(1);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                tasks_.push_back(std::move(task));
            }
            ready_.notify_one();
        };
    }
    int submitted() const { return submitted_.load(); }

private:
    void loop() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                ready_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
                if (tasks_.empty()) return;
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
        }
    }
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> tasks_;
    std::vector<std::thread> threads_;
    std::atomic<int> submitted_{0};
    bool stop_ = false;
};

auto doubling_cascade() {
    return cascade::Cascade{cascade::tier("double", [](int x) { return 2 * x; }, cascade::price_per_call(0.001))};
}

}  // namespace

TEST_CASE("returns one result per request, in input order, over 8 threads") {
    auto c = doubling_cascade();
    const auto requests = iota_requests(2000);
    const auto outcomes = cascade::run_batch(c, requests, {8, {}, {}});
    REQUIRE(outcomes.size() == requests.size());
    int wrong = 0;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (!outcomes[i].has_result() || outcomes[i].result().value() != 2 * requests[i]) ++wrong;
    }
    CHECK(wrong == 0);
    CHECK(c.stats().queries == 2000);
}

TEST_CASE("runs max_concurrency requests at once and never more") {
    std::mutex m;
    std::condition_variable cv;
    int in_flight = 0;
    int most = 0;
    bool reached = false;
    auto runner = [&](int x) {
        std::unique_lock<std::mutex> lock(m);
        ++in_flight;
        most = std::max(most, in_flight);
        if (in_flight == 3) reached = true;
        cv.notify_all();
        // The first requests wait for each other: this finishes only if 3 really run together.
        const bool together = cv.wait_for(lock, 20s, [&] { return reached; });
        --in_flight;
        return together ? x : -1;
    };
    const auto outcomes = cascade::run_batch(runner, iota_requests(30), {3, {}, {}});
    CHECK(reached);
    CHECK(most == 3);
    for (const auto& o : outcomes) CHECK(o.result() >= 0);
}

TEST_CASE("reports progress once per request, one call at a time, from 1 to total") {
    auto c = doubling_cascade();
    std::vector<std::size_t> seen;  // unsynchronised on purpose: the batch serialises the calls
    std::size_t reported_total = 0;
    cascade::BatchOptions options;
    options.max_concurrency = 8;
    options.on_progress = [&](std::size_t done, std::size_t total) {
        seen.push_back(done);
        reported_total = total;
    };
    (void)cascade::run_batch(c, iota_requests(500), options);
    REQUIRE(seen.size() == 500);
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
    CHECK(reported_total == 500);
}

TEST_CASE("what escapes the runner stays in its request's slot and the batch completes") {
    auto runner = [](int x) {
        if (x % 10 == 0) throw std::bad_alloc();
        return x;
    };
    const auto outcomes = cascade::run_batch(runner, iota_requests(100), {8, {}, {}});
    REQUIRE(outcomes.size() == 100);
    for (int i = 0; i < 100; ++i) {
        const auto& o = outcomes[static_cast<std::size_t>(i)];
        if (i % 10 == 0) {
            CHECK_FALSE(o.has_result());
            CHECK(o.error() != nullptr);
            CHECK_THROWS_AS(o.result(), std::bad_alloc);
        } else {
            CHECK(o.result() == i);
        }
    }
}

TEST_CASE("a model's failures come back as results, not as errors") {
    cascade::Cascade c{cascade::tier("flaky", [](int x) -> int {
                           if (x % 2) throw std::runtime_error("500");
                           return x;
                       }),
                       cascade::tier("big", [](int x) { return x + 1000; })};
    const auto outcomes = cascade::run_batch(c, iota_requests(64), {8, {}, {}});
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        REQUIRE(outcomes[i].has_result());
        CHECK(outcomes[i]->tier() == (i % 2 ? "big" : "flaky"));
    }
}

TEST_CASE("runs a router's batch, whose results have no default value") {
    cascade::Router router{[](int x) { return x % 2 ? 0.9 : 0.1; }, {0.5}, cascade::tier("easy", [](int x) { return x; }),
                           cascade::tier("hard", [](int x) { return -x; })};
    const auto outcomes = cascade::run_batch(router, iota_requests(40), {8, {}, {}});
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        CHECK(outcomes[i]->route() == i % 2);
    }
}

TEST_CASE("runs on a user's executor with at most max_concurrency tasks") {
    TestPool pool{8};
    auto c = doubling_cascade();
    cascade::BatchOptions options;
    options.max_concurrency = 4;
    options.executor = pool.executor();
    const auto outcomes = cascade::run_batch(c, iota_requests(1000), options);
    CHECK(pool.submitted() == 4);
    for (std::size_t i = 0; i < outcomes.size(); ++i) CHECK(outcomes[i]->value() == static_cast<int>(2 * i));
}

TEST_CASE("runs the requests a dropped or refused task left behind on the calling thread") {
    auto c = doubling_cascade();
    cascade::BatchOptions options;
    options.max_concurrency = 4;
    SECTION("an executor that drops every task") {
        options.executor = [](std::function<void()> task) { task = nullptr; };
    }
    SECTION("an executor that refuses every task") {
        options.executor = [](std::function<void()>) { throw std::runtime_error("queue full"); };
    }
    const auto outcomes = cascade::run_batch(c, iota_requests(50), options);
    for (std::size_t i = 0; i < outcomes.size(); ++i) CHECK(outcomes[i]->value() == static_cast<int>(2 * i));
}

TEST_CASE("an exception from on_progress is rethrown after every request has run") {
    auto c = doubling_cascade();
    cascade::BatchOptions options;
    options.max_concurrency = 8;
    int calls = 0;
    options.on_progress = [&](std::size_t done, std::size_t) {
        ++calls;
        if (done == 3) throw std::runtime_error("progress bar broke");
    };
    CHECK_THROWS_WITH(cascade::run_batch(c, iota_requests(100), options), "progress bar broke");
    CHECK(calls == 3);
    CHECK(c.stats().queries == 100);
}

TEST_CASE("an empty batch returns at once") {
    auto c = doubling_cascade();
    CHECK(cascade::run_batch(c, std::vector<int>{}, {8, {}, {}}).empty());
}

TEST_CASE("rejects max_concurrency 0") {
    auto c = doubling_cascade();
    CHECK_THROWS_WITH(cascade::run_batch(c, iota_requests(3), {0, {}, {}}),
                      "cascade::run_batch: max_concurrency must be >= 1, got 0");
}

TEST_CASE("run_async returns the future of one query's result") {
    auto c = doubling_cascade();
    auto f = cascade::run_async(c, 21);
    CHECK(f.get().value() == 42);

    TestPool pool{2};
    auto g = cascade::run_async(c, 5, pool.executor());
    CHECK(g.get().value() == 10);

    auto dropped = cascade::run_async(c, 5, [](std::function<void()>) {});
    CHECK_THROWS_AS(dropped.get(), std::future_error);
}
