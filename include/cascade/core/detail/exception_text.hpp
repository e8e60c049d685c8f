// SPDX-License-Identifier: MIT
#ifndef CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP
#define CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP

#include <exception>
#include <string>

namespace cascade::detail {

// The text of whatever was thrown, for traces, events and error messages; user code may throw
// anything, not only std::exception.
inline std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

}  // namespace cascade::detail

#endif  // CASCADE_CORE_DETAIL_EXCEPTION_TEXT_HPP
