// SPDX-License-Identifier: MIT
#ifndef CASCADE_DETAIL_FIXED_VECTOR_HPP
#define CASCADE_DETAIL_FIXED_VECTOR_HPP

#include <cstddef>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace cascade::detail {

// A vector with inline storage for at most Capacity elements: a result's trace lives inside the
// result, so running a cascade does not allocate, and only the entries in use are constructed.
template <class T, std::size_t Capacity>
class FixedVector {
public:
    using value_type = T;
    using const_iterator = const T*;
    using iterator = T*;

    FixedVector() noexcept = default;
    FixedVector(const FixedVector& other) { append_all(other); }
    FixedVector(FixedVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
        for (T& item : other) emplace_back(std::move(item));
    }
    FixedVector& operator=(const FixedVector& other) {
        if (this != &other) {
            clear();
            append_all(other);
        }
        return *this;
    }
    FixedVector& operator=(FixedVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
        if (this != &other) {
            clear();
            for (T& item : other) emplace_back(std::move(item));
        }
        return *this;
    }
    ~FixedVector() { clear(); }

    template <class... Args>
    T& emplace_back(Args&&... args) {
        if (size_ == Capacity) throw std::length_error("cascade: more tiers than CASCADE_MAX_TIERS");
        T* slot = ::new (static_cast<void*>(storage_ + size_ * sizeof(T))) T(std::forward<Args>(args)...);
        ++size_;
        return *slot;
    }

    // The new element default-initialized: for a class whose members all have initializers
    // this skips the zeroing of the whole element that value-initialization (emplace_back())
    // does first.
    T& emplace_back_default() { return *append_default(1); }

    // `count` new elements, default-initialized as by emplace_back_default(), in one step;
    // returns the first of them.
    T* append_default(std::size_t count) {
        if (count > Capacity - size_) throw std::length_error("cascade: more tiers than CASCADE_MAX_TIERS");
        T* first = data() + size_;
        for (std::size_t i = 0; i < count; ++i) {
            ::new (static_cast<void*>(first + i)) T;
            ++size_;
        }
        return first;
    }

    void clear() noexcept {
        for (std::size_t i = size_; i > 0; --i) data()[i - 1].~T();
        size_ = 0;
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t i) noexcept { return data()[i]; }
    const T& operator[](std::size_t i) const noexcept { return data()[i]; }
    T& back() noexcept { return data()[size_ - 1]; }
    const T& back() const noexcept { return data()[size_ - 1]; }
    iterator begin() noexcept { return data(); }
    iterator end() noexcept { return data() + size_; }
    const_iterator begin() const noexcept { return data(); }
    const_iterator end() const noexcept { return data() + size_; }

private:
    T* data() noexcept { return std::launder(reinterpret_cast<T*>(storage_)); }
    const T* data() const noexcept { return std::launder(reinterpret_cast<const T*>(storage_)); }
    void append_all(const FixedVector& other) {
        for (const T& item : other) emplace_back(item);
    }

    alignas(T) unsigned char storage_[Capacity * sizeof(T)];
    std::size_t size_ = 0;
};

}  // namespace cascade::detail

#endif  // CASCADE_DETAIL_FIXED_VECTOR_HPP
