#include "catch.hpp"

#include <cascade/core/response_traits.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Found by member detection: the default names, other element and string types.
struct FloatReply {
    const char* text = "";
    std::vector<float> token_logprobs;
    std::string_view finish_reason;
};

struct ArrayReply {
    std::string text;
    double token_logprobs[3] = {-0.1, -0.2, -0.3};
};

struct OptionalReply {
    std::string text;
    std::optional<std::vector<double>> token_logprobs;
};

struct PointerReply {
    std::string text;
    const std::array<double, 2>* token_logprobs = nullptr;
};

// Members with the right names but unusable types are not picked up.
struct WrongMembers {
    int text = 0;
    std::vector<int> token_logprobs;
    double finish_reason = 0.0;
};

// A provider's shape, mapped by a specialisation; its text is built on the fly.
struct ProviderReply {
    std::vector<std::string> parts;
    std::vector<float> lp;
    std::string stop;
};

// A specialisation whose text has the wrong type.
struct BadMapped {
    int n = 0;
};

}  // namespace

template <>
struct cascade::response_traits<ProviderReply> {
    static std::string text(const ProviderReply& r) {
        std::string out;
        for (const auto& p : r.parts) out += p;
        return out;
    }
    static const std::vector<float>& token_logprobs(const ProviderReply& r) { return r.lp; }
    static std::string_view finish_reason(const ProviderReply& r) { return r.stop; }
};

template <>
struct cascade::response_traits<BadMapped> {
    static int text(const BadMapped& r) { return r.n; }
};

TEST_CASE("ChatReply maps its text, token log-probabilities and finish reason") {
    cascade::ChatReply r{"Paris", {-0.1, -0.5}, "stop"};
    STATIC_REQUIRE(cascade::has_response_text_v<cascade::ChatReply>);
    STATIC_REQUIRE(cascade::has_token_logprobs_v<cascade::ChatReply>);
    STATIC_REQUIRE(cascade::has_finish_reason_v<cascade::ChatReply>);
    CHECK(std::string_view(cascade::response_text(r)) == "Paris");
    CHECK(cascade::response_token_logprobs(r).size() == 2);
    CHECK(cascade::response_token_logprobs(r)[1] == -0.5);
    CHECK(std::string_view(cascade::response_finish_reason(r)) == "stop");
}

TEST_CASE("std::string maps its text only") {
    STATIC_REQUIRE(cascade::has_response_text_v<std::string>);
    STATIC_REQUIRE_FALSE(cascade::has_token_logprobs_v<std::string>);
    STATIC_REQUIRE_FALSE(cascade::has_finish_reason_v<std::string>);
    const std::string s = "hello";
    CHECK(std::string_view(cascade::response_text(s)) == "hello");
}

TEST_CASE("members named text, token_logprobs and finish_reason are found without a specialisation") {
    STATIC_REQUIRE(cascade::has_response_text_v<FloatReply>);
    STATIC_REQUIRE(cascade::has_token_logprobs_v<FloatReply>);
    STATIC_REQUIRE(cascade::has_finish_reason_v<FloatReply>);
    FloatReply r{"yes", {-0.25F}, "length"};
    CHECK(std::string_view(cascade::response_text(r)) == "yes");
    CHECK(std::string_view(cascade::response_finish_reason(r)) == "length");
    const auto view = cascade::detail::view_logprobs(cascade::response_token_logprobs(r));
    REQUIRE(view.present);
    REQUIRE(view.size == 1);
    CHECK(view[0] == -0.25);

    STATIC_REQUIRE(cascade::has_token_logprobs_v<ArrayReply>);
    STATIC_REQUIRE_FALSE(cascade::has_finish_reason_v<ArrayReply>);
    ArrayReply a;
    const auto av = cascade::detail::view_logprobs(cascade::response_token_logprobs(a));
    CHECK(av.size == 3);
    CHECK(av[2] == -0.3);
}

TEST_CASE("an empty optional or a null pointer of log-probabilities reads as missing, not empty") {
    OptionalReply o{"x", std::nullopt};
    CHECK_FALSE(cascade::detail::view_logprobs(cascade::response_token_logprobs(o)).present);
    o.token_logprobs = std::vector<double>{};
    const auto empty = cascade::detail::view_logprobs(cascade::response_token_logprobs(o));
    CHECK(empty.present);
    CHECK(empty.size == 0);

    PointerReply p;
    CHECK_FALSE(cascade::detail::view_logprobs(cascade::response_token_logprobs(p)).present);
    const std::array<double, 2> lp{-1.0, -2.0};
    p.token_logprobs = &lp;
    const auto pv = cascade::detail::view_logprobs(cascade::response_token_logprobs(p));
    REQUIRE(pv.present);
    CHECK(pv.size == 2);
    CHECK(pv[1] == -2.0);
}

TEST_CASE("members of unusable types are not taken for text, log-probabilities or finish reason") {
    STATIC_REQUIRE_FALSE(cascade::has_response_text_v<WrongMembers>);
    STATIC_REQUIRE_FALSE(cascade::has_token_logprobs_v<WrongMembers>);
    STATIC_REQUIRE_FALSE(cascade::has_finish_reason_v<WrongMembers>);
    STATIC_REQUIRE_FALSE(cascade::has_response_text_v<int>);
}

TEST_CASE("a specialisation maps a type of one's own, and its text may be built by value") {
    STATIC_REQUIRE(cascade::has_response_text_v<ProviderReply>);
    STATIC_REQUIRE(cascade::has_token_logprobs_v<ProviderReply>);
    STATIC_REQUIRE(cascade::has_finish_reason_v<ProviderReply>);
    ProviderReply r{{"Par", "is"}, {-0.5F, -0.25F}, "stop"};
    decltype(auto) text = cascade::response_text(r);  // a std::string held here
    CHECK(std::string_view(text) == "Paris");
    const auto view = cascade::detail::view_logprobs(cascade::response_token_logprobs(r));
    CHECK(view.size == 2);
    CHECK(view[0] == -0.5);
}

TEST_CASE("a specialisation returning the wrong type is present but not usable") {
    STATIC_REQUIRE(cascade::detail::traits_text<BadMapped>::present);
    STATIC_REQUIRE_FALSE(cascade::detail::traits_text<BadMapped>::valid);
    STATIC_REQUIRE_FALSE(cascade::has_response_text_v<BadMapped>);
}
