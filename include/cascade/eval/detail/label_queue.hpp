// SPDX-License-Identifier: MIT
#ifndef CASCADE_EVAL_DETAIL_LABEL_QUEUE_HPP
#define CASCADE_EVAL_DETAIL_LABEL_QUEUE_HPP

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

// The queue between the threads that answer queries and the one thread that labels a sample of
// them: bounded, so that a slow labeller costs labels and never memory or time on the hot path.
//
// Many threads push without a lock; one thread pops. The cells follow the bounded queue of
// per-cell sequence numbers (a cell is free for position p when its sequence is p, full when it
// is p + 1), with one more cell than the capacity so that a capacity of 1 works too; the capacity
// itself is held by a count that a push reserves before it claims a cell and a pop releases after
// it freed one, so that `size()` never exceeds it.
namespace cascade::detail {

template <class T>
class LabelQueue {
public:
    explicit LabelQueue(std::size_t capacity)
        : capacity_(capacity), cell_count_(capacity + 1), cells_(std::make_unique<Cell[]>(capacity + 1)) {
        for (std::size_t i = 0; i < cell_count_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
    }

    LabelQueue(const LabelQueue&) = delete;
    LabelQueue& operator=(const LabelQueue&) = delete;

    // Moves `item` in and returns true, or returns false at once when the queue is full (or when
    // moving `item` threw: the cell is then handed on empty, so that the consumer never waits on
    // it). Any thread.
    bool try_push(T&& item) noexcept {
        std::size_t n = size_.load(std::memory_order_relaxed);
        do {
            if (n >= capacity_) return false;
        } while (!size_.compare_exchange_weak(n, n + 1, std::memory_order_acquire, std::memory_order_relaxed));
        std::size_t pos = tail_.load(std::memory_order_relaxed);
        Cell* cell = nullptr;
        for (;;) {
            cell = &cells_[pos % cell_count_];
            const std::size_t sequence = cell->sequence.load(std::memory_order_acquire);
            if (sequence == pos) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
            } else if (sequence < pos) {
                // The cell's last item is still being taken out: full for this instant.
                size_.fetch_sub(1, std::memory_order_release);
                return false;
            } else {
                pos = tail_.load(std::memory_order_relaxed);
            }
        }
        bool stored = true;
        try {
            cell->value.emplace(std::move(item));
        } catch (...) {
            stored = false;
        }
        cell->sequence.store(pos + 1, std::memory_order_release);
        return stored;
    }

    // Takes the oldest cell into `out` and returns true; false when there is none ready. `out`
    // may come back empty (a push whose move threw). The consumer thread only.
    bool try_pop(std::optional<T>& out) {
        Cell& cell = cells_[head_ % cell_count_];
        if (cell.sequence.load(std::memory_order_acquire) != head_ + 1) return false;
        out.reset();
        if (cell.value) {
            try {
                out.emplace(std::move(*cell.value));
            } catch (...) {
                out.reset();
            }
            cell.value.reset();
        }
        cell.sequence.store(head_ + cell_count_, std::memory_order_release);
        ++head_;
        size_.fetch_sub(1, std::memory_order_release);
        return true;
    }

    // Items pushed and not yet popped, those being pushed included. Any thread.
    [[nodiscard]] std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    struct Cell {
        std::atomic<std::size_t> sequence{0};
        std::optional<T> value;
    };

    std::size_t capacity_;
    std::size_t cell_count_;
    std::unique_ptr<Cell[]> cells_;
    std::atomic<std::size_t> size_{0};
    std::atomic<std::size_t> tail_{0};
    std::size_t head_ = 0;  // the consumer's alone
};

}  // namespace cascade::detail

#endif  // CASCADE_EVAL_DETAIL_LABEL_QUEUE_HPP
