// SPDX-License-Identifier: MIT
//
// Every layer of cascade in one include: the core, verifiers, scorers, evaluation and the
// production runtime. The optional integrations (integration/fmt.hpp needs {fmt};
// integration/chat_completion.hpp is dependency-free but opt-in) are not included.
#ifndef CASCADE_ALL_HPP
#define CASCADE_ALL_HPP

#include "cascade.hpp"
#include "eval.hpp"
#include "runtime.hpp"
#include "score.hpp"
#include "verify.hpp"

#endif  // CASCADE_ALL_HPP
