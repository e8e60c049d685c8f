// SPDX-License-Identifier: MIT
//
// Counts every heap allocation of the program by replacing the global operator new and delete.
// Include it in exactly one source file of a test or benchmark program (the replacements are
// definitions). Read cascade_test::allocations (all threads) or cascade_test::thread_allocations
// (the calling thread's).
//
// Under ThreadSanitizer nothing is replaced and CASCADE_TEST_COUNTS_ALLOCATIONS is 0: its runtime,
// linked statically by clang, defines the global operator new itself, so a second definition does
// not link. AddressSanitizer allows the replacement; it still sees every block through malloc and
// free.
#ifndef CASCADE_TEST_COUNT_ALLOCATIONS_HPP
#define CASCADE_TEST_COUNT_ALLOCATIONS_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define CASCADE_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CASCADE_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef CASCADE_TEST_COUNTS_ALLOCATIONS
#define CASCADE_TEST_COUNTS_ALLOCATIONS 1
#endif

#if CASCADE_TEST_COUNTS_ALLOCATIONS

namespace cascade_test {

inline std::atomic<std::uint64_t> allocations{0};
inline thread_local std::uint64_t thread_allocations = 0;

namespace detail {
inline void* allocate(std::size_t size, std::size_t align = 0) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    ++thread_allocations;
    if (align == 0) return std::malloc(size == 0 ? 1 : size);
#if defined(_WIN32)
    return _aligned_malloc(size, align);
#else
    return std::aligned_alloc(align, (size + align - 1) / align * align);  // a multiple of `align`
#endif
}
inline void* or_throw(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
// Out of line: when GCC inlines free() into a replaced operator delete next to a new-expression,
// -Wmismatched-new-delete reports a mismatch that is not one.
#if defined(__GNUC__)
[[gnu::noinline]]
#endif
inline void release(void* p, bool aligned = false) noexcept {
#if defined(_WIN32)
    if (aligned) return _aligned_free(p);
#endif
    static_cast<void>(aligned);
    std::free(p);
}
inline std::size_t to_size(std::align_val_t a) noexcept { return static_cast<std::size_t>(a); }
}  // namespace detail

}  // namespace cascade_test

// Every form is replaced, not only those the others forward to by default: a sanitizer's runtime
// may provide the others itself, and they would then escape the count (or free memory from
// malloc as if from its own operator new).
void* operator new(std::size_t n) { return cascade_test::detail::or_throw(cascade_test::detail::allocate(n)); }
void* operator new[](std::size_t n) { return cascade_test::detail::or_throw(cascade_test::detail::allocate(n)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return cascade_test::detail::allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return cascade_test::detail::allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return cascade_test::detail::or_throw(cascade_test::detail::allocate(n, cascade_test::detail::to_size(a))); }
void* operator new[](std::size_t n, std::align_val_t a) { return cascade_test::detail::or_throw(cascade_test::detail::allocate(n, cascade_test::detail::to_size(a))); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return cascade_test::detail::allocate(n, cascade_test::detail::to_size(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return cascade_test::detail::allocate(n, cascade_test::detail::to_size(a));
}
void operator delete(void* p) noexcept { cascade_test::detail::release(p); }
void operator delete[](void* p) noexcept { cascade_test::detail::release(p); }
void operator delete(void* p, std::size_t) noexcept { cascade_test::detail::release(p); }
void operator delete[](void* p, std::size_t) noexcept { cascade_test::detail::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { cascade_test::detail::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { cascade_test::detail::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { cascade_test::detail::release(p, true); }
void operator delete[](void* p, std::align_val_t) noexcept { cascade_test::detail::release(p, true); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { cascade_test::detail::release(p, true); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { cascade_test::detail::release(p, true); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { cascade_test::detail::release(p, true); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { cascade_test::detail::release(p, true); }

#endif  // CASCADE_TEST_COUNTS_ALLOCATIONS

#endif  // CASCADE_TEST_COUNT_ALLOCATIONS_HPP
