// A model for tests of concurrency limits, in-process and shared: a call with 1 takes its slot
// and keeps it until release(); other calls answer at once.
#ifndef CASCADE_TESTS_SUPPORT_SLOT_HOLDER_HPP
#define CASCADE_TESTS_SUPPORT_SLOT_HOLDER_HPP

#include <future>

namespace cascade_test {

class SlotHolder {
public:
    auto model() {
        return [this, released = released_](int x) {
            if (x == 1) {
                holding_.set_value();
                released.wait();
            }
            return x;
        };
    }
    // Returns once a call with 1 holds its slot.
    void wait_until_held() { held_.wait(); }
    void release() { release_.set_value(); }

private:
    std::promise<void> release_;
    std::shared_future<void> released_ = release_.get_future().share();
    std::promise<void> holding_;
    std::future<void> held_ = holding_.get_future();
};

}  // namespace cascade_test

#endif  // CASCADE_TESTS_SUPPORT_SLOT_HOLDER_HPP
