// cascade: cheap-first LLM cascades and difficulty routing for C++.
// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERSION_HPP
#define CASCADE_VERSION_HPP

// The one place the version lives; CMake reads it from here.
#define CASCADE_VERSION_MAJOR 0
#define CASCADE_VERSION_MINOR 1
#define CASCADE_VERSION_PATCH 0

/// The version as one number: major * 10000 + minor * 100 + patch.
#define CASCADE_VERSION \
    (CASCADE_VERSION_MAJOR * 10000 + CASCADE_VERSION_MINOR * 100 + CASCADE_VERSION_PATCH)

#endif  // CASCADE_VERSION_HPP
