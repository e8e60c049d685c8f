// SPDX-License-Identifier: MIT
// A chat-completion body as the example client reads it (examples/openai_cascade), then read by
// cascade's verifiers and token pricing (cascade/integration/chat_completion.hpp): any body is a
// completion or a cascade::MalformedResponse; a completion gives confidences in [0, 1] and, when
// it has usage, a finite cost >= 0.
#include <cascade/integration/chat_completion.hpp>
#include <cascade/verify.hpp>

#include <cmath>
#include <string>

#include "chat_client.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(cascade_fuzz::as_text(data, size));
    cascade::ChatCompletion completion;
    try {
        completion = openai_cascade::parse_chat_completion(body);
    } catch (const cascade::MalformedResponse&) {
        return 0;
    }
    CASCADE_FUZZ_EXPECT(!completion.choices.empty(), body);
    const cascade::Verdict verdicts[] = {
        cascade::verify::mean_token_prob()(completion), cascade::verify::min_token_prob()(completion),
        cascade::verify::not_truncated()(completion), cascade::verify::non_empty()(completion),
        cascade::verify::valid_json()(completion)};
    for (const cascade::Verdict& v : verdicts) {
        CASCADE_FUZZ_EXPECT(v.confidence >= 0.0 && v.confidence <= 1.0, body + "\n" + v.note);
    }
    if (completion.usage) {
        const double cost = cascade::TokenPrices{2.5, 10.0}.cost(*completion.usage);
        CASCADE_FUZZ_EXPECT(std::isfinite(cost) && cost >= 0.0, body);
    }
    // The error path reads the same bodies: the server's message or an excerpt, never a crash.
    CASCADE_FUZZ_EXPECT(!openai_cascade::detail::excerpt(body).empty() || body.empty(), body);
    return 0;
}
