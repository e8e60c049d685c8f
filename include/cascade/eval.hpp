// SPDX-License-Identifier: MIT
//
// The evaluation umbrella (namespace cascade): outcome logs and the sink that records them, the
// query texts logged next to them, replay of cascades and routers over logged outcomes,
// cost/quality curves, the metrics people report (saving, APGR, CPT, AIQ), calibration of
// thresholds to a quality target, the check that new traffic is drawn like the traffic
// calibrated on, the quality monitor that holds the target in production, and its replay over a
// logged stream. Each header also stands alone; none needs more than the standard library.
#ifndef CASCADE_EVAL_HPP
#define CASCADE_EVAL_HPP

#include "eval/calibrate.hpp"
#include "eval/calibrate_router.hpp"
#include "eval/calibration_file.hpp"
#include "eval/curve.hpp"
#include "eval/early_exit_replay.hpp"
#include "eval/metrics.hpp"
#include "eval/monitor_replay.hpp"
#include "eval/outcome_log.hpp"
#include "eval/outcome_sink.hpp"
#include "eval/outcome_table_reader.hpp"
#include "eval/quality_monitor.hpp"
#include "eval/query_texts.hpp"
#include "eval/replay.hpp"
#include "eval/risk_control.hpp"
#include "eval/shift.hpp"
#include "eval/token_trace.hpp"

#endif  // CASCADE_EVAL_HPP
