// SPDX-License-Identifier: MIT
// parse_json: any bytes either parse or raise JsonError at an offset inside the text; what
// parses writes out as JSON that parses back to the same text; a depth limit is kept.
#include <cascade/detail/json.hpp>

#include <string>

#include "fuzz_target.hpp"

using cascade::detail::JsonError;
using cascade::detail::JsonValue;
using cascade::detail::parse_json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = cascade_fuzz::as_text(data, size);
    JsonValue value;
    try {
        value = parse_json(text);
    } catch (const JsonError& e) {
        CASCADE_FUZZ_EXPECT(e.offset() <= text.size(), e.what());
        return 0;
    }
    const std::string dumped = value.dump();
    try {
        const JsonValue back = parse_json(dumped);
        CASCADE_FUZZ_EXPECT(back.dump() == dumped, dumped);
    } catch (const JsonError& e) {
        cascade_fuzz::broken(__FILE__, __LINE__, "dump() writes JSON that parse_json reads", dumped + "\n" + e.what());
    }
    // A shallower limit refuses with the depth in the reason, or parses the same value.
    try {
        CASCADE_FUZZ_EXPECT(parse_json(text, 3).dump() == dumped, dumped);
    } catch (const JsonError& e) {
        CASCADE_FUZZ_EXPECT(e.reason() == "nesting deeper than 3 arrays/objects", e.what());
    }
    return 0;
}
