// SPDX-License-Identifier: MIT
#ifndef CASCADE_INTEGRATION_REDIS_DETAIL_HIREDIS_HPP
#define CASCADE_INTEGRATION_REDIS_DETAIL_HIREDIS_HPP

// hiredis installs its header as <hiredis/hiredis.h>; a build of it added with add_subdirectory or
// FetchContent exposes its source folder, where the header is <hiredis.h>.
#if defined(__has_include)
#if __has_include(<hiredis/hiredis.h>)
#include <hiredis/hiredis.h>
#else
#include <hiredis.h>
#endif
#else
#include <hiredis/hiredis.h>
#endif

#endif  // CASCADE_INTEGRATION_REDIS_DETAIL_HIREDIS_HPP
