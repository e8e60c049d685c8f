// SPDX-License-Identifier: MIT
#ifndef CASCADE_RUNTIME_BATCH_HPP
#define CASCADE_RUNTIME_BATCH_HPP

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace cascade {

/// Runs a task somewhere: a thread pool's submit, an event loop's post. It may run the task on
/// any thread, later or at once; it must run it or destroy it.
using Executor = std::function<void(std::function<void()>)>;

/// How cascade::run_batch runs its requests.
struct BatchOptions {
    /// The most requests in flight at once; >= 1. Model calls wait on the network, so this is
    /// typically far above the number of cores (64 to 256).
    std::size_t max_concurrency = 16;
    /// Called after each request with (done, total); calls are serialised and `done` rises by one
    /// each time, ending at total. Empty: no progress report.
    std::function<void(std::size_t done, std::size_t total)> on_progress;
    /// Where the requests run. Empty: on threads of the batch's own, at most max_concurrency.
    Executor executor;
};

/// One request's outcome in a batch: the runner's result, or what escaped it (a cascade records
/// model failures in its result, so this is only for std::bad_alloc and the like).
template <class R>
class BatchOutcome {
public:
    [[nodiscard]] bool has_result() const noexcept { return result_.has_value(); }
    explicit operator bool() const noexcept { return has_result(); }

    /// The result; rethrows what escaped the runner when there is none.
    R& result() & { return checked(); }
    const R& result() const& { return const_cast<BatchOutcome*>(this)->checked(); }
    R&& result() && { return std::move(checked()); }

    R* operator->() { return &checked(); }
    const R* operator->() const { return &const_cast<BatchOutcome*>(this)->checked(); }

    /// What escaped the runner, or null.
    [[nodiscard]] std::exception_ptr error() const noexcept { return error_; }

    void set_result(R&& r) { result_.emplace(std::move(r)); }
    void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

private:
    R& checked() {
        if (!result_) {
            if (error_) std::rethrow_exception(error_);
            throw std::logic_error("cascade::BatchOutcome: this request was never run");
        }
        return *result_;
    }
    std::optional<R> result_;
    std::exception_ptr error_;
};

namespace detail {

template <class Runner, class Request, class = void>
struct has_run : std::false_type {};
template <class Runner, class Request>
struct has_run<Runner, Request, std::void_t<decltype(std::declval<Runner&>().run(std::declval<const Request&>()))>>
    : std::true_type {};

template <class Runner, class Request>
constexpr bool runner_accepts() {
    constexpr bool ok = has_run<Runner, Request>::value || std::is_invocable_v<Runner&, const Request&>;
    static_assert(ok, "cascade::run_batch / cascade::run_async: the runner must be a Cascade or Router (anything with "
                      "run(const Request&)), or a callable R(const Request&)");
    return ok;
}

template <class Runner, class Request>
decltype(auto) run_one(Runner& runner, const Request& request) {
    if constexpr (has_run<Runner, Request>::value) {
        return runner.run(request);
    } else {
        return runner(request);
    }
}

template <class Runner, class Request>
using batch_result_t = std::decay_t<decltype(run_one(std::declval<Runner&>(), std::declval<const Request&>()))>;

// What the workers of one batch share. Held by a shared pointer so that a task an executor
// destroys late, after the batch has returned, touches nothing that is gone.
struct BatchSync {
    std::mutex mutex;
    std::condition_variable workers_done;
    std::size_t workers_out = 0;
};

// Signals once that its worker is over, whether the executor ran it or dropped it.
class WorkerToken {
public:
    explicit WorkerToken(std::shared_ptr<BatchSync> sync) : sync_(std::move(sync)) {}
    WorkerToken(const WorkerToken&) = delete;
    WorkerToken& operator=(const WorkerToken&) = delete;
    ~WorkerToken() { finish(); }
    void finish() noexcept {
        if (!sync_) return;
        {
            std::lock_guard<std::mutex> lock(sync_->mutex);
            --sync_->workers_out;
        }
        sync_->workers_done.notify_all();
        sync_.reset();
    }

private:
    std::shared_ptr<BatchSync> sync_;
};

}  // namespace detail

/// Runs every request through `runner` (a Cascade, a Router, anything with run(request), or a
/// callable), at most `options.max_concurrency` at a time, and returns one BatchOutcome per request in
/// input order. Blocks until all are done.
///
///     auto outcomes = cascade::run_batch(my_cascade, questions, {64, [](std::size_t d, std::size_t n) {
///         std::fprintf(stderr, "\r%zu/%zu", d, n); }});
///     for (auto& o : outcomes) use(o.result());   // a Result per question
///
/// Nothing is lost: an exception that escapes the runner for one request is kept in that
/// request's BatchOutcome and the others still run. If the executor drops a task, the requests left
/// are run on the calling thread. An exception from on_progress stops further progress calls and
/// is rethrown once every request has finished.
///
/// Thread-safety: runs `runner` from many threads at once (a Cascade allows it when its models
/// do). Throws std::invalid_argument for max_concurrency 0.
template <class Runner, class Requests>
auto run_batch(Runner& runner, const Requests& requests, const BatchOptions& options = {}) {
    using Request = std::decay_t<decltype(requests[std::size_t{0}])>;
    static_assert(detail::runner_accepts<Runner, Request>());
    using R = detail::batch_result_t<Runner, Request>;
    if (options.max_concurrency == 0) {
        throw std::invalid_argument("cascade::run_batch: max_concurrency must be >= 1, got 0");
    }

    const std::size_t total = std::size(requests);
    std::vector<BatchOutcome<R>> outcomes(total);
    std::atomic<std::size_t> next{0};
    std::mutex progress_mutex;
    std::size_t done = 0;
    std::exception_ptr progress_error;

    auto report = [&]() {
        if (!options.on_progress) return;
        std::lock_guard<std::mutex> lock(progress_mutex);
        ++done;
        if (progress_error) return;
        try {
            options.on_progress(done, total);
        } catch (...) {
            progress_error = std::current_exception();
        }
    };
    auto work = [&]() {
        for (std::size_t i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
            try {
                outcomes[i].set_result(detail::run_one(runner, requests[i]));
            } catch (...) {
                outcomes[i].set_error(std::current_exception());
            }
            report();
        }
    };

    const std::size_t workers = std::min(options.max_concurrency, total);
    if (options.executor) {
        auto sync = std::make_shared<detail::BatchSync>();
        for (std::size_t w = 0; w < workers; ++w) {
            {
                std::lock_guard<std::mutex> lock(sync->mutex);
                ++sync->workers_out;
            }
            auto token = std::make_shared<detail::WorkerToken>(sync);
            try {
                options.executor([token, &work]() {
                    work();
                    token->finish();
                });
            } catch (...) {
                token->finish();  // the executor refused it; the calling thread takes up the slack
            }
        }
        std::unique_lock<std::mutex> lock(sync->mutex);
        sync->workers_done.wait(lock, [&] { return sync->workers_out == 0; });
    } else {
        std::vector<std::thread> threads;
        threads.reserve(workers);
        for (std::size_t w = 0; w < workers; ++w) {
            try {
                threads.emplace_back(work);
            } catch (const std::system_error&) {
                break;  // out of threads: the ones started and the calling thread do the rest
            }
        }
        for (std::thread& t : threads) t.join();
    }
    work();  // whatever a dropped or refused worker left behind
    if (progress_error) std::rethrow_exception(progress_error);
    return outcomes;
}

/// Runs one request through `runner` on a thread of its own and returns its future. The runner
/// must outlive the future's completion; the request is copied.
///
///     std::future<cascade::Result<Answer>> f = cascade::run_async(my_cascade, question);
template <class Runner, class Request>
auto run_async(Runner& runner, Request request) {
    static_assert(detail::runner_accepts<Runner, Request>());
    return std::async(std::launch::async,
                      [&runner, request = std::move(request)]() { return detail::run_one(runner, request); });
}

/// Runs one request through `runner` on `executor` and returns its future. If the executor drops
/// the task, the future holds std::future_error (broken_promise).
template <class Runner, class Request>
auto run_async(Runner& runner, Request request, const Executor& executor) {
    static_assert(detail::runner_accepts<Runner, Request>());
    using R = detail::batch_result_t<Runner, Request>;
    if (!executor) throw std::invalid_argument("cascade::run_async: the executor is empty");
    auto task = std::make_shared<std::packaged_task<R()>>(
        [&runner, request = std::move(request)]() { return detail::run_one(runner, request); });
    auto future = task->get_future();
    executor([task]() { (*task)(); });
    return future;
}

}  // namespace cascade

#endif  // CASCADE_RUNTIME_BATCH_HPP
