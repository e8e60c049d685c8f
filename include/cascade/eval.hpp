// SPDX-License-Identifier: MIT
//
// The evaluation umbrella (namespace cascade): outcome logs and the sink that records them,
// replay of cascades and routers over logged outcomes, cost/quality curves, the metrics people
// report (saving, APGR, CPT, AIQ) and calibration of thresholds to a quality target. Each header
// also stands alone; none needs more than the standard library.
#ifndef CASCADE_EVAL_HPP
#define CASCADE_EVAL_HPP

#include "eval/calibrate.hpp"
#include "eval/curve.hpp"
#include "eval/metrics.hpp"
#include "eval/outcome_log.hpp"
#include "eval/outcome_sink.hpp"
#include "eval/replay.hpp"

#endif  // CASCADE_EVAL_HPP
