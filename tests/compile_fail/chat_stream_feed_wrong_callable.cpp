// EXPECT: cascade::ChatStreamParser::feed: on_chunk must be callable as cascade::StreamControl\(const cascade::TokenChunk&\)
// A chunk callback that takes the text alone is refused with one message naming what is accepted.
#include <cascade/integration/chat_stream.hpp>

#include <string_view>

int main() {
    cascade::ChatStreamParser parser;
    parser.feed("data: [DONE]\n\n", [](std::string_view) { return true; });
}
