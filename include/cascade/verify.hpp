// SPDX-License-Identifier: MIT
#ifndef CASCADE_VERIFY_HPP
#define CASCADE_VERIFY_HPP

// Ready-made verifiers for a tier, in namespace cascade::verify, working on your own Response
// type through cascade::response_traits (see docs/verifiers.md):
//
// - token_confidence.hpp: mean_token_prob, min_token_prob, token_prob_quantile
// - checks.hpp:           non_empty, no_refusal, not_truncated, matches, text_satisfies, valid_json
// - self_consistency.hpp: self_consistency with exact_match, loose_match, final_answer_after,
//                         choice_letter, equivalent_if, extract_with, match_by
// - judge.hpp:            judge with score_scale, unit_score, yes_no
// - combinators.hpp:      all_of, any_of, weighted, negate
// - calibration_map.hpp:  fit_platt, fit_isotonic, CalibrationMap (save / load), calibrated,
//                         expected_calibration_error
// - early_exit.hpp:       rules that stop a streamed answer mid-way (see docs/streaming.md):
//                         stop_when_mean_prob_below, stop_when_min_prob_below,
//                         stop_when_geometric_mean_prob_below, stop_when_prob_quantile_below,
//                         stop_when_calibrated_below, stop_on_refusal, stop_on_match,
//                         stop_after_tokens, stop_after_chars, stop_when_any, stop_when_all,
//                         after_tokens
//
// Each verifier is an ordinary value: pass it as the verifier argument of cascade::tier(...).
//
//     auto check = cascade::verify::all_of(cascade::verify::non_empty(), cascade::verify::no_refusal(),
//                                          cascade::verify::token_prob_quantile(0.1));
//     auto mini = cascade::tier("mini", call_mini, std::move(check), 0.6, cascade::price_per_call(2e-4));

#include "verify/calibration_map.hpp"
#include "verify/checks.hpp"
#include "verify/combinators.hpp"
#include "verify/early_exit.hpp"
#include "verify/judge.hpp"
#include "core/response_traits.hpp"
#include "verify/self_consistency.hpp"
#include "verify/token_confidence.hpp"

#endif  // CASCADE_VERIFY_HPP
