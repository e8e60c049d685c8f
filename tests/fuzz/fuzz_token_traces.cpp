// SPDX-License-Identifier: MIT
// read_token_traces: any bytes either read as token traces or raise cascade::ParseError naming the
// source; every trace read has tokens, each a log-probability (<= 0, not NaN), and is found again
// by its query and model.
#include <cmath>
#include <sstream>
#include <string>

#include <cascade/core/parse_error.hpp>
#include <cascade/eval/token_trace.hpp>

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::istringstream in{std::string(cascade_fuzz::as_text(data, size))};
    try {
        const cascade::TokenTraces traces = cascade::read_token_traces(in, "fuzz.jsonl", 4096);
        std::size_t tokens = 0;
        for (const cascade::TokenTrace& t : traces.traces()) {
            CASCADE_FUZZ_EXPECT(!t.logprobs.empty(), t.query_id);
            for (const double lp : t.logprobs) {
                CASCADE_FUZZ_EXPECT(!std::isnan(lp) && lp <= 0.0, std::to_string(lp));
            }
            CASCADE_FUZZ_EXPECT(traces.find(t.query_id, t.model) == &t, t.query_id + " / " + t.model);
            tokens += t.logprobs.size();
        }
        CASCADE_FUZZ_EXPECT(tokens == traces.tokens(), std::to_string(tokens));
    } catch (const cascade::ParseError& e) {
        CASCADE_FUZZ_EXPECT(std::string(e.what()).rfind("fuzz.jsonl", 0) == 0, e.what());
    }
    return 0;
}
