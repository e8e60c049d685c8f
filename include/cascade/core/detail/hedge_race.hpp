// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_HEDGE_RACE_HPP
#define CASCADE_CORE_DETAIL_HEDGE_RACE_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace cascade::detail {

// Where a hedged tier's call (the primary, on the caller's thread) and the next tier's call (the
// backup, on a helper thread) meet. The backup starts only if the primary is still running once
// the delay has passed; the first accepted answer wins and asks the other call to stop through
// its cancel flag. One mutex orders the primary's end against the backup's start and the two
// answers against each other, so exactly one side can win.
class HedgeRace {
public:
    enum class Side : unsigned char { primary, backup };

    // Helper thread: waits until `start_at` (steady_clock; time_point::max() for never) or until
    // the primary has finished, whichever comes first. True when the backup is to start: the
    // primary still runs and `may_start()` (checked under the lock, so that the primary's end
    // cannot slip in between) agrees.
    template <class MayStart>
    bool wait_to_start(std::chrono::steady_clock::time_point start_at, MayStart&& may_start) {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto primary_done = [this] { return primary_done_; };
        if (start_at == std::chrono::steady_clock::time_point::max()) {
            primary_finished_.wait(lock, primary_done);  // no deadline to overflow
            return false;
        }
        if (primary_finished_.wait_until(lock, start_at, primary_done)) return false;
        if (!std::forward<MayStart>(may_start)()) return false;
        backup_started_ = true;
        return true;
    }

    // Either side, once its answer has been judged: true when the other side's answer was
    // accepted first, so this one lost. A first accepted answer wins and cancels the other side.
    bool finish(Side side, bool accepted) {
        bool lost = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (side == Side::primary) primary_done_ = true;
            lost = decided_;
            if (!decided_ && accepted) {
                decided_ = true;
                (side == Side::primary ? cancel_backup_ : cancel_primary_).store(true, std::memory_order_release);
            }
        }
        if (side == Side::primary) primary_finished_.notify_all();
        return lost;
    }

    // The caller is leaving without an answer of the primary (an exception escaped it): the
    // backup is not started, and is asked to stop if it runs.
    void abandon() noexcept {
        try {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                primary_done_ = true;
            }
            cancel_backup_.store(true, std::memory_order_release);
            primary_finished_.notify_all();
        } catch (...) {
            cancel_backup_.store(true, std::memory_order_release);
        }
    }

    // Whether the backup was started; read once the helper thread has been joined.
    [[nodiscard]] bool backup_started() const noexcept { return backup_started_; }

    [[nodiscard]] const std::atomic<bool>* cancel_flag(Side side) const noexcept {
        return side == Side::primary ? &cancel_primary_ : &cancel_backup_;
    }

private:
    std::mutex mutex_;
    std::condition_variable primary_finished_;
    bool primary_done_ = false;
    bool backup_started_ = false;
    bool decided_ = false;  // an answer was accepted
    std::atomic<bool> cancel_primary_{false};
    std::atomic<bool> cancel_backup_{false};
};

// The helper thread of one race, joined on every way out of the caller's scope (an exception
// included), so that no call outlives the query that made it.
class HedgeThread {
public:
    explicit HedgeThread(HedgeRace& race) noexcept : race_(race) {}
    HedgeThread(const HedgeThread&) = delete;
    HedgeThread& operator=(const HedgeThread&) = delete;
    ~HedgeThread() {
        if (thread_.joinable()) {
            race_.abandon();
            thread_.join();
        }
    }

    // Throws std::system_error when no thread can be started.
    template <class Fn>
    void start(Fn&& fn) {
        thread_ = std::thread(std::forward<Fn>(fn));
    }
    void join() { thread_.join(); }

private:
    HedgeRace& race_;
    std::thread thread_;
};

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_HEDGE_RACE_HPP
