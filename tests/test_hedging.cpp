// Tests for hedging (cascade::with_hedge_after, core/hedge.hpp): a hedged tier that is slow gets
// the next tier started alongside it; the first accepted answer wins, the other call is asked to
// stop and waited for, and both are paid for. The calls are ordered with flags and the events the
// cascade reports, never with sleeps: a wait that reaches its safety timeout fails the test.
// Models record what they see into atomics; only the test's own thread asserts.
#include "catch.hpp"
#include "threads.hpp"

#include <cascade/runtime/batch.hpp>
#include <cascade/runtime/prometheus.hpp>
#include <cascade/cascade.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using cascade::AttemptStatus;
using cascade::EventKind;

struct Answer {
    std::string text;
    double confidence = 0.0;
};

double confidence_of(const Answer& a) { return a.confidence; }

constexpr double mini_price = 0.0002;
constexpr double mid_price = 0.001;
constexpr double big_price = 0.005;

using cascade_test::eventually;

// Every event the cascade reports, from whichever thread reports it.
class EventLog {
public:
    void record(const cascade::Event& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        seen_.emplace_back(e.kind, e.tier_index);
    }
    [[nodiscard]] std::size_t count(EventKind kind, std::size_t tier) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const auto& [k, t] : seen_) n += (k == kind && t == tier) ? 1U : 0U;
        return n;
    }
    [[nodiscard]] std::size_t count(EventKind kind) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const auto& seen : seen_) n += seen.first == kind ? 1U : 0U;
        return n;
    }
    // The position of the first such event, or the number of events when there is none.
    [[nodiscard]] std::size_t position(EventKind kind, std::size_t tier) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t i = 0;
        while (i < seen_.size() && !(seen_[i].first == kind && seen_[i].second == tier)) ++i;
        return i;
    }
    // Whether `tier`'s call has been reported finished (its race outcome then decided).
    [[nodiscard]] bool finished(std::size_t tier) const { return count(EventKind::tier_finished, tier) > 0; }
    [[nodiscard]] bool hedged() const { return count(EventKind::hedge_started) > 0; }

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<EventKind, std::size_t>> seen_;
};

cascade::CascadeOptions logging_to(const std::shared_ptr<EventLog>& log, cascade::Limits limits = {}) {
    cascade::CascadeOptions options;
    options.on_event = [log](const cascade::Event& e) { log->record(e); };
    options.limits = limits;
    return options;
}

// A model that answers at once and counts its calls.
auto instant(std::string text, double confidence, std::atomic<int>& calls) {
    return [text = std::move(text), confidence, &calls](const std::string&) {
        ++calls;
        return Answer{text, confidence};
    };
}

}  // namespace

TEST_CASE("the backup's accepted answer wins over a slow hedged tier, which is cancelled, waited for and paid for") {
    auto log = std::make_shared<EventLog>();
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> mini_on_caller{false}, mini_saw_cancel{false}, mini_returned{false};
    std::atomic<bool> big_on_helper{false}, big_saw_cancel{true};
    std::atomic<int> big_calls{0};
    cascade::Cascade c{
        logging_to(log),
        cascade::with_hedge_after(
            cascade::tier(
                "mini",
                [&](const std::string&, const cascade::CallContext& context) {
                    mini_on_caller = std::this_thread::get_id() == caller;
                    mini_saw_cancel = eventually([&] { return context.cancel_requested(); });
                    mini_returned = true;
                    return Answer{"mini", 0.99};  // would pass, but too late
                },
                confidence_of, 0.5, cascade::price_per_call(mini_price)),
            1ms),
        cascade::tier(
            "big",
            [&](const std::string&, const cascade::CallContext& context) {
                ++big_calls;
                big_on_helper = std::this_thread::get_id() != caller;
                big_saw_cancel = context.cancel_requested();
                return Answer{"big", 1.0};
            },
            cascade::price_per_call(big_price))};

    auto r = c.run(std::string("q"));

    REQUIRE(mini_saw_cancel);
    CHECK(mini_returned);  // run() returned after the loser did
    CHECK(mini_on_caller);
    CHECK(big_on_helper);
    CHECK_FALSE(big_saw_cancel);
    CHECK(big_calls == 1);
    REQUIRE(r.has_value());
    CHECK(r->text == "big");
    CHECK(r.tier() == "big");
    CHECK(r.tier_index() == std::size_t{1});
    CHECK(r.resolution() == cascade::Resolution::accepted);
    CHECK(r.cost() == Approx(mini_price + big_price));
    CHECK(r.escalations() == 1);

    REQUIRE(r.trace().size() == 2);
    const cascade::Attempt& mini = r.trace()[0];
    CHECK(mini.status == AttemptStatus::cancelled);
    CHECK(mini.called());
    CHECK(mini.cost == Approx(mini_price));
    CHECK(mini.confidence == 0.99);
    CHECK_THAT(mini.note, Catch::Matchers::ContainsSubstring("lost the race to big: accepted"));
    CHECK(r.trace()[1].status == AttemptStatus::accepted);
    CHECK(r.trace()[1].cost == Approx(big_price));
    CHECK_THAT(r.explain(), Catch::Matchers::ContainsSubstring("mini: cancelled"));

    const cascade::Stats s = c.stats();
    CHECK(s.queries == 1);
    CHECK(s.accepted == 1);
    CHECK(s.errors == 0);
    CHECK(s.hedges == 1);
    CHECK(s.escalations == 1);
    CHECK(s.cost == Approx(mini_price + big_price));
    CHECK(s.tiers[0].calls == 1);
    CHECK(s.tiers[0].cancelled == 1);
    CHECK(s.tiers[0].accepted == 0);
    CHECK(s.tiers[0].hedges == 0);
    CHECK(s.tiers[0].cost == Approx(mini_price));
    CHECK(s.tiers[1].calls == 1);
    CHECK(s.tiers[1].accepted == 1);
    CHECK(s.tiers[1].hedges == 1);
    CHECK(s.tiers[1].cost == Approx(big_price));

    CHECK(log->count(EventKind::hedge_started) == 1);
    CHECK(log->count(EventKind::hedge_started, 1) == 1);
    CHECK(log->position(EventKind::hedge_started, 1) < log->position(EventKind::tier_started, 1));
    CHECK(log->count(EventKind::tier_finished) == 2);
    CHECK(log->count(EventKind::escalated) == 0);
    CHECK(log->count(EventKind::query_finished) == 1);
}

TEST_CASE("a hedged tier accepted before its delay ends the query without starting the backup") {
    auto log = std::make_shared<EventLog>();
    std::atomic<int> mini_calls{0}, big_calls{0};
    std::atomic<bool> mini_saw_cancel{false};
    cascade::Cascade c{logging_to(log),
                       cascade::with_hedge_after(
                           cascade::tier(
                               "mini",
                               [&](const std::string&, const cascade::CallContext& context) {
                                   ++mini_calls;
                                   if (context.cancel_requested()) mini_saw_cancel = true;
                                   return Answer{"mini", 0.9};
                               },
                               confidence_of, 0.5, cascade::price_per_call(mini_price)),
                           10s),
                       cascade::tier("big", instant("big", 1.0, big_calls), cascade::price_per_call(big_price))};
    for (int i = 0; i < 3; ++i) {
        auto r = c.run(std::string("q"));
        REQUIRE(r.has_value());
        CHECK(r->text == "mini");
        CHECK(r.cost() == Approx(mini_price));
        REQUIRE(r.trace().size() == 2);
        CHECK(r.trace()[0].status == AttemptStatus::accepted);
        CHECK(r.trace()[0].note.empty());
        CHECK(r.trace()[1].status == AttemptStatus::skipped);
    }
    CHECK(mini_calls == 3);
    CHECK(big_calls == 0);
    CHECK_FALSE(mini_saw_cancel);
    CHECK(log->count(EventKind::hedge_started) == 0);
    CHECK(c.stats().hedges == 0);
    CHECK(c.stats().tiers[1].calls == 0);
}

TEST_CASE("a hedged tier that answers before its delay escalates as usual, on the caller's thread") {
    const auto caller = std::this_thread::get_id();
    std::atomic<int> mini_calls{0};
    std::atomic<bool> big_on_caller{false}, big_saw_cancel{true};
    cascade::Cascade c{
        cascade::with_hedge_after(cascade::tier("mini", instant("mini", 0.1, mini_calls), confidence_of, 0.5), 1h),
        cascade::tier("big", [&](const std::string&, const cascade::CallContext& context) {
            big_on_caller = std::this_thread::get_id() == caller;
            big_saw_cancel = context.cancel_requested();
            return Answer{"big", 1.0};
        })};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "big");
    CHECK(big_on_caller);
    CHECK_FALSE(big_saw_cancel);
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[1].status == AttemptStatus::accepted);
    CHECK(c.stats().hedges == 0);
    CHECK(c.stats().tiers[1].calls == 1);
}

TEST_CASE("without a hedged tier every tier runs on the caller's thread, never asked to cancel") {
    const auto caller = std::this_thread::get_id();
    std::atomic<int> on_caller{0}, cancel_seen{0};
    auto model = [&](std::string text, double confidence) {
        return [&, text = std::move(text), confidence](const std::string&, const cascade::CallContext& context) {
            if (std::this_thread::get_id() == caller) ++on_caller;
            if (context.cancel_requested() || context.cancel_flag != nullptr) ++cancel_seen;
            return Answer{text, confidence};
        };
    };
    cascade::Cascade c{cascade::tier("mini", model("mini", 0.1), confidence_of, 0.5),
                       cascade::tier("big", model("big", 1.0))};
    auto r = c.run(std::string("q"));
    CHECK(r->text == "big");
    CHECK(on_caller == 2);
    CHECK(cancel_seen == 0);
    CHECK(c.stats().hedges == 0);
}

TEST_CASE("when the first call to finish is rejected the query waits for the other") {
    auto log = std::make_shared<EventLog>();

    SECTION("the hedged tier is rejected, then the backup passes") {
        std::atomic<bool> backup_started{false}, mini_finished{false}, mini_saw_cancel{true};
        cascade::Cascade c{
            logging_to(log),
            cascade::with_hedge_after(
                cascade::tier(
                    "mini",
                    [&](const std::string&, const cascade::CallContext& context) {
                        backup_started = eventually([&] { return log->hedged(); });
                        mini_saw_cancel = context.cancel_requested();
                        return Answer{"mini", 0.1};
                    },
                    confidence_of, 0.5, cascade::price_per_call(mini_price)),
                1ms),
            cascade::tier(
                "big",
                [&](const std::string&) {
                    mini_finished = eventually([&] { return log->finished(0); });
                    return Answer{"big", 1.0};
                },
                cascade::price_per_call(big_price))};
        auto r = c.run(std::string("q"));
        REQUIRE(backup_started);
        REQUIRE(mini_finished);
        CHECK_FALSE(mini_saw_cancel);
        CHECK(r->text == "big");
        CHECK(r.trace()[0].status == AttemptStatus::rejected);
        CHECK(r.trace()[1].status == AttemptStatus::accepted);
        CHECK(r.cost() == Approx(mini_price + big_price));
        CHECK(c.stats().tiers[0].rejected == 1);
        CHECK(c.stats().tiers[0].cancelled == 0);
    }

    SECTION("the backup is rejected, then the hedged tier passes") {
        std::atomic<bool> mid_finished{false};
        std::atomic<int> big_calls{0};
        cascade::Cascade c{
            logging_to(log),
            cascade::with_hedge_after(
                cascade::tier(
                    "mini",
                    [&](const std::string&) {
                        mid_finished = eventually([&] { return log->finished(1); });
                        return Answer{"mini", 0.9};
                    },
                    confidence_of, 0.5, cascade::price_per_call(mini_price)),
                1ms),
            cascade::tier(
                "mid", [](const std::string&) { return Answer{"mid", 0.2}; }, confidence_of, 0.5,
                cascade::price_per_call(mid_price)),
            cascade::tier("big", instant("big", 1.0, big_calls), cascade::price_per_call(big_price))};
        auto r = c.run(std::string("q"));
        REQUIRE(mid_finished);
        CHECK(r->text == "mini");
        CHECK(r.tier_index() == std::size_t{0});
        CHECK(r.trace()[0].status == AttemptStatus::accepted);
        CHECK(r.trace()[1].status == AttemptStatus::rejected);
        CHECK(r.trace()[2].status == AttemptStatus::skipped);
        CHECK(big_calls == 0);
        CHECK(r.cost() == Approx(mini_price + mid_price));
        CHECK(c.stats().tiers[1].rejected == 1);
        CHECK(c.stats().tiers[1].hedges == 1);
    }
}

TEST_CASE("when both calls of a race are rejected the query escalates, to a hedged tier too") {
    // mini races mid; both reject; big, itself hedged, races huge, which wins.
    auto log = std::make_shared<EventLog>();
    std::atomic<bool> mid_finished{false}, big_saw_cancel{false};
    cascade::Cascade c{
        logging_to(log),
        cascade::with_hedge_after(cascade::tier(
                                      "mini",
                                      [&](const std::string&) {
                                          mid_finished = eventually([&] { return log->finished(1); });
                                          return Answer{"mini", 0.3};
                                      },
                                      confidence_of, 0.5, cascade::price_per_call(mini_price)),
                                  1ms),
        cascade::tier(
            "mid", [](const std::string&) { return Answer{"mid", 0.2}; }, confidence_of, 0.5,
            cascade::price_per_call(mid_price)),
        cascade::with_hedge_after(cascade::tier(
                                      "big",
                                      [&](const std::string&, const cascade::CallContext& context) {
                                          big_saw_cancel = eventually([&] { return context.cancel_requested(); });
                                          return Answer{"big", 0.9};
                                      },
                                      confidence_of, 0.5, cascade::price_per_call(big_price)),
                                  1ms),
        cascade::tier("huge", [](const std::string&) { return Answer{"huge", 1.0}; }, cascade::price_per_call(0.02))};

    auto r = c.run(std::string("q"));

    REQUIRE(mid_finished);
    REQUIRE(big_saw_cancel);
    REQUIRE(r.has_value());
    CHECK(r->text == "huge");
    CHECK(r.tier_index() == std::size_t{3});
    REQUIRE(r.trace().size() == 4);
    CHECK(r.trace()[0].status == AttemptStatus::rejected);
    CHECK(r.trace()[1].status == AttemptStatus::rejected);
    CHECK(r.trace()[2].status == AttemptStatus::cancelled);
    CHECK(r.trace()[3].status == AttemptStatus::accepted);
    CHECK(r.cost() == Approx(mini_price + mid_price + big_price + 0.02));
    CHECK(log->count(EventKind::hedge_started, 1) == 1);
    CHECK(log->count(EventKind::hedge_started, 3) == 1);
    CHECK(log->count(EventKind::escalated, 1) == 1);  // from mid, the last called, to big
    CHECK(log->count(EventKind::tier_started, 2) == 1);
    const cascade::Stats s = c.stats();
    CHECK(s.hedges == 2);
    CHECK(s.escalations == 3);
    for (std::size_t i = 0; i < 4; ++i) CHECK(s.tiers[i].calls == 1);
}

TEST_CASE("when neither call of a race passes the NoPassPolicy sees both answers in tier order") {
    auto log = std::make_shared<EventLog>();
    auto make = [&](cascade::NoPassPolicy policy) {
        cascade::CascadeOptions options = logging_to(log);
        options.when_none_pass = policy;
        return cascade::Cascade{
            options,
            cascade::with_hedge_after(cascade::tier(
                                          "mini",
                                          [log](const std::string&) {
                                              // Waits for mid's end; reported below if it never came.
                                              eventually([&] { return log->finished(1); });
                                              return Answer{"mini", 0.4};
                                          },
                                          confidence_of, 0.5),
                                      0ms),
            cascade::tier(
                "mid", [](const std::string&) { return Answer{"mid", 0.3}; }, confidence_of, 0.5)};
    };
    SECTION("accept_last takes the backup's answer") {
        auto c = make(cascade::NoPassPolicy::accept_last);
        auto r = c.run(std::string("q"));
        CHECK(r.resolution() == cascade::Resolution::fallback);
        CHECK(r->text == "mid");
    }
    SECTION("most_confident takes the hedged tier's answer") {
        auto c = make(cascade::NoPassPolicy::most_confident);
        auto r = c.run(std::string("q"));
        CHECK(r.resolution() == cascade::Resolution::fallback);
        CHECK(r->text == "mini");
    }
    CHECK(log->count(EventKind::hedge_started) == 1);
}

TEST_CASE("a backup the query's cost cap cannot afford is not started, and the refusal is noted") {
    auto log = std::make_shared<EventLog>();
    std::atomic<int> big_calls{0};
    std::atomic<bool> mini_saw_hedge{false};
    auto make = [&](double cap) {
        // Where no backup may start, mini waits a while for one all the same, so that a backup
        // started wrongly would be seen; where one must start, a missing one fails the test.
        const auto patience = cap < mini_price + big_price ? 200ms : 10'000ms;
        return cascade::Cascade{
            logging_to(log, cascade::Limits{{}, cap}),
            cascade::with_hedge_after(
                cascade::tier(
                    "mini",
                    [&, patience](const std::string&, const cascade::CallContext& context) {
                        // Gives a backup time to start; a started one wins and cancels this call.
                        mini_saw_hedge = eventually([&] { return context.cancel_requested(); }, patience);
                        return Answer{"mini", 0.9};
                    },
                    confidence_of, 0.5, cascade::price_per_call(mini_price)),
                0ms),
            cascade::tier(
                "big",
                [&](const std::string&) {
                    ++big_calls;
                    return Answer{"big", 1.0};
                },
                cascade::price_per_call(big_price))};
    };

    SECTION("over the cap: mini alone") {
        auto c = make(0.003);
        auto r = c.run(std::string("q"));
        CHECK_FALSE(mini_saw_hedge);
        CHECK(big_calls == 0);
        CHECK(log->count(EventKind::hedge_started) == 0);
        CHECK(r->text == "mini");
        CHECK(r.trace()[0].status == AttemptStatus::accepted);
        CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("no hedge to big"));
        CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("cap of $0.003"));
        CHECK(r.trace()[1].status == AttemptStatus::skipped);
        CHECK(c.stats().hedges == 0);
    }
    SECTION("within the cap: the same cascade hedges") {
        auto c = make(1.0);
        auto r = c.run(std::string("q"));
        CHECK(mini_saw_hedge);
        CHECK(big_calls == 1);
        CHECK(log->count(EventKind::hedge_started) == 1);
        CHECK(r->text == "big");
        CHECK(r.cost() == Approx(mini_price + big_price));
        CHECK(c.stats().hedges == 1);
    }
}

TEST_CASE("a backup is not started once the query's deadline has passed") {
    // The clock reads an hour later on any thread but the test's, so the helper thread finds the
    // deadline passed while the query's own thread still has time for big after mini.
    const auto caller = std::this_thread::get_id();
    const auto start = std::chrono::steady_clock::time_point(24h);
    std::atomic<bool> read_by_helper{false}, big_on_caller{false};
    auto log = std::make_shared<EventLog>();
    cascade::CascadeOptions options = logging_to(log, cascade::Limits{1s, {}});
    options.now = [caller, start, &read_by_helper] {
        if (std::this_thread::get_id() == caller) return start;
        read_by_helper = true;
        return start + 1h;
    };
    cascade::Cascade c{options,
                       cascade::with_hedge_after(cascade::tier(
                                                     "mini",
                                                     [&](const std::string&) {
                                                         // The helper reads the clock under the race's lock:
                                                         // once it has, its decision is made.
                                                         eventually([&] { return read_by_helper.load(); });
                                                         return Answer{"mini", 0.1};
                                                     },
                                                     confidence_of, 0.5),
                                                 0ms),
                       cascade::tier("big", [&](const std::string&) {
                           big_on_caller = std::this_thread::get_id() == caller;
                           return Answer{"big", 1.0};
                       })};
    auto r = c.run(std::string("q"));
    REQUIRE(read_by_helper);
    CHECK(log->count(EventKind::hedge_started) == 0);
    CHECK(c.stats().hedges == 0);
    CHECK(big_on_caller);  // called in its turn, not as a backup
    CHECK(r->text == "big");
}

TEST_CASE("the backup sees the query's deadline and its own time limit, counted from its own start") {
    std::atomic<std::int64_t> manual_ns{0};
    cascade::CascadeOptions options;
    options.now = [&manual_ns] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(manual_ns.load())); };
    options.limits.timeout = 10s;
    auto log = std::make_shared<EventLog>();
    options.on_event = [log](const cascade::Event& e) { log->record(e); };
    std::atomic<std::int64_t> mini_remaining{0}, big_remaining{0};
    std::atomic<bool> mini_read{false}, big_finished{false};
    cascade::Cascade c{
        options,
        cascade::with_hedge_after(cascade::tier(
                                      "mini",
                                      [&](const std::string&, const cascade::CallContext& context) {
                                          mini_remaining = context.remaining().count();
                                          mini_read = true;
                                          big_finished = eventually([&] { return log->finished(1); });
                                          return Answer{"mini", 0.9};
                                      },
                                      confidence_of, 0.5),
                                  1ms)
            .with_time_limit(5s),
        cascade::tier("big",
                      [&](const std::string&, const cascade::CallContext& context) {
                          big_remaining = context.remaining().count();
                          eventually([&] { return mini_read.load(); });
                          manual_ns += std::chrono::nanoseconds(3s).count();  // over big's limit of 2 s
                          return Answer{"big", 1.0};
                      })
            .with_time_limit(2s)};
    auto r = c.run(std::string("q"));
    REQUIRE(big_finished);
    CHECK(mini_remaining == std::chrono::nanoseconds(5s).count());
    CHECK(big_remaining == std::chrono::nanoseconds(2s).count());
    REQUIRE(r.trace().size() == 2);
    CHECK(r.trace()[1].status == AttemptStatus::timed_out);
    CHECK(r.trace()[1].latency == 3s);
    CHECK(r.trace()[0].status == AttemptStatus::accepted);  // 3 s is within mini's 5 s
    CHECK(r.trace()[0].latency == 3s);
    CHECK(r->text == "mini");
    CHECK(r.latency() == 3s);
    CHECK(c.stats().tiers[1].timeouts == 1);
}

TEST_CASE("a hedged tier that throws leaves the answer to its backup") {
    auto log = std::make_shared<EventLog>();
    std::atomic<bool> hedged{false}, mini_finished{false};
    cascade::Cascade c{logging_to(log),
                       cascade::with_hedge_after(cascade::tier(
                                                     "mini",
                                                     [&](const std::string&) -> Answer {
                                                         hedged = eventually([&] { return log->hedged(); });
                                                         throw std::runtime_error("mini is down");
                                                     },
                                                     confidence_of, 0.5, cascade::price_per_call(mini_price)),
                                                 1ms),
                       cascade::tier(
                           "big",
                           [&](const std::string&) {
                               mini_finished = eventually([&] { return log->finished(0); });
                               return Answer{"big", 1.0};
                           },
                           cascade::price_per_call(big_price))};
    auto r = c.run(std::string("q"));
    REQUIRE(hedged);
    REQUIRE(mini_finished);
    CHECK(r->text == "big");
    const cascade::Attempt& mini = r.trace()[0];
    CHECK(mini.status == AttemptStatus::model_error);
    CHECK(mini.exception != nullptr);
    CHECK_THAT(mini.error, Catch::Matchers::ContainsSubstring("mini is down"));
    CHECK(r.cost() == Approx(big_price));  // a model that threw is not charged
    CHECK(c.stats().tiers[0].model_errors == 1);
    CHECK(c.stats().errors == 1);
}

TEST_CASE("a loser that throws once cancelled is recorded as cancelled, not as an error") {
    std::atomic<bool> mini_saw_cancel{false};
    cascade::Cascade c{cascade::with_hedge_after(
                           cascade::tier(
                               "mini",
                               [&](const std::string&, const cascade::CallContext& context) -> Answer {
                                   mini_saw_cancel = eventually([&] { return context.cancel_requested(); });
                                   throw std::runtime_error("request aborted");
                               },
                               confidence_of, 0.5, cascade::price_per_call(mini_price)),
                           1ms),
                       cascade::tier(
                           "big", [](const std::string&) { return Answer{"big", 1.0}; },
                           cascade::price_per_call(big_price))};
    auto r = c.run(std::string("q"));
    REQUIRE(mini_saw_cancel);
    CHECK(r.resolution() == cascade::Resolution::accepted);
    CHECK(r->text == "big");
    const cascade::Attempt& mini = r.trace()[0];
    CHECK(mini.status == AttemptStatus::cancelled);
    REQUIRE(mini.exception != nullptr);
    CHECK_THROWS_WITH(std::rethrow_exception(mini.exception), "request aborted");
    CHECK_THAT(mini.error, Catch::Matchers::ContainsSubstring("request aborted"));
    CHECK_THAT(mini.note, Catch::Matchers::ContainsSubstring("lost the race to big: model error"));
    CHECK(r.cost() == Approx(big_price));
    const cascade::Stats s = c.stats();
    CHECK(s.errors == 0);
    CHECK(s.tiers[0].model_errors == 0);
    CHECK(s.tiers[0].cancelled == 1);
    CHECK(s.tiers[0].calls == 1);
}

TEST_CASE("a backup that loses is asked to stop and waited for") {
    auto log = std::make_shared<EventLog>();
    std::atomic<bool> hedged{false}, big_saw_cancel{false}, big_returned{false};
    cascade::Cascade c{logging_to(log),
                       cascade::with_hedge_after(cascade::tier(
                                                     "mini",
                                                     [&](const std::string&) {
                                                         hedged = eventually([&] { return log->hedged(); });
                                                         return Answer{"mini", 0.9};
                                                     },
                                                     confidence_of, 0.5, cascade::price_per_call(mini_price)),
                                                 1ms),
                       cascade::tier(
                           "big",
                           [&](const std::string&, const cascade::CallContext& context) {
                               big_saw_cancel = eventually([&] { return context.cancel_requested(); });
                               big_returned = true;
                               return Answer{"big", 1.0};
                           },
                           cascade::price_per_call(big_price))};
    auto r = c.run(std::string("q"));
    REQUIRE(hedged);
    REQUIRE(big_saw_cancel);
    CHECK(big_returned);
    CHECK(r->text == "mini");
    CHECK(r.trace()[0].status == AttemptStatus::accepted);
    CHECK(r.trace()[1].status == AttemptStatus::cancelled);
    CHECK_THAT(r.trace()[1].note, Catch::Matchers::ContainsSubstring("lost the race to mini: accepted"));
    CHECK(r.cost() == Approx(mini_price + big_price));
    CHECK(c.stats().tiers[1].cancelled == 1);
    CHECK(c.stats().tiers[1].hedges == 1);
    CHECK(c.stats().accepted == 1);
}

TEST_CASE("with_hedge_after refuses a negative delay and a hedged last tier, naming the tier") {
    auto model = [](const std::string&) { return Answer{"x", 1.0}; };
    CHECK_THROWS_AS(cascade::with_hedge_after(cascade::tier("mini", model), -1ms), std::invalid_argument);
    CHECK_THROWS_WITH(cascade::with_hedge_after(cascade::tier("mini", model), -1ms),
                      Catch::Matchers::ContainsSubstring("\"mini\"") &&
                          Catch::Matchers::ContainsSubstring("-1000000 ns"));
    CHECK_NOTHROW(cascade::with_hedge_after(cascade::tier("mini", model), 0ms));

    auto hedged_last = [&] {
        return cascade::Cascade{cascade::tier("mini", model, confidence_of, 0.5),
                                cascade::with_hedge_after(cascade::tier("big", model), 1s)};
    };
    CHECK_THROWS_AS(hedged_last(), std::invalid_argument);
    CHECK_THROWS_WITH(hedged_last(), Catch::Matchers::ContainsSubstring("\"big\"") &&
                                         Catch::Matchers::ContainsSubstring("last tier"));
    CHECK_THROWS_WITH(cascade::Cascade{cascade::with_hedge_after(cascade::tier("solo", model), 1s)},
                      Catch::Matchers::ContainsSubstring("\"solo\""));
    // A hedged tier as a router's route is a one-tier cascade: nothing to hedge to.
    CHECK_THROWS_WITH((cascade::Router{[](const std::string&) { return 0.0; }, {},
                                       cascade::with_hedge_after(cascade::tier("route", model), 1s)}),
                      Catch::Matchers::ContainsSubstring("\"route\""));
}

TEST_CASE("a hedged tier keeps its hedge through its settings and a new delay") {
    auto model = [](const std::string&) { return Answer{"x", 1.0}; };
    auto t = cascade::with_hedge_after(cascade::tier("mini", model), 5ms).with_time_limit(1s).with_cost_estimate(0.25);
    static_assert(cascade::detail::is_hedged_v<decltype(t)>, "with_time_limit must keep the hedge");
    CHECK(t.hedge_after() == 5ms);
    CHECK(t.time_limit() == std::chrono::nanoseconds(1s));
    CHECK(t.cost_estimate() == 0.25);
    CHECK(t.name() == "mini");
    auto later = cascade::with_hedge_after(std::move(t), 2s);
    CHECK(later.hedge_after() == 2s);
    CHECK(later.time_limit() == std::chrono::nanoseconds(1s));

    auto no_rule = [](const cascade::StreamState&) -> std::optional<std::string> { return std::nullopt; };
    auto streaming = cascade::with_hedge_after(cascade::tier("mini", model), 5ms).with_early_exit(no_rule).with_stall_limit(3s);
    static_assert(cascade::detail::is_hedged_v<decltype(streaming)>, "with_early_exit must keep the hedge");
    CHECK(streaming.hedge_after() == 5ms);
    CHECK(streaming.stream_settings().stall_limit == std::chrono::nanoseconds(3s));
    CHECK(static_cast<bool>(streaming.stream_settings().early_exit));
}

TEST_CASE("a hedged cascade races inside a router route and under run_async") {
    auto make = [] {
        return cascade::Cascade{
            cascade::with_hedge_after(cascade::tier(
                                          "mini",
                                          [](const std::string&, const cascade::CallContext& context) {
                                              const bool cancelled =
                                                  eventually([&] { return context.cancel_requested(); });
                                              return Answer{cancelled ? "mini" : "mini, never cancelled", 0.9};
                                          },
                                          confidence_of, 0.5),
                                      1ms),
            cascade::tier("big", [](const std::string&) { return Answer{"big", 1.0}; })};
    };
    SECTION("router") {
        cascade::Router router{[](const std::string&) { return 0.1; }, {0.5}, make(),
                               cascade::tier("huge", [](const std::string&) { return Answer{"huge", 1.0}; })};
        auto r = router.run(std::string("q"));
        CHECK(r.route() == 0);
        CHECK(r->text == "big");
        CHECK(r.trace()[0].status == AttemptStatus::cancelled);
    }
    SECTION("run_async") {
        auto c = make();
        auto r = cascade::run_async(c, std::string("q")).get();
        CHECK(r->text == "big");
        CHECK(r.trace()[0].status == AttemptStatus::cancelled);
        CHECK(c.stats().hedges == 1);
    }
}

TEST_CASE("the cancelled status and the hedge event have readable names") {
    CHECK(cascade::to_string(AttemptStatus::cancelled) == "cancelled");
    CHECK(cascade::to_string(EventKind::hedge_started) == "hedge_started");
    cascade::CallContext context;
    CHECK_FALSE(context.cancel_requested());
    std::atomic<bool> flag{false};
    context.cancel_flag = &flag;
    CHECK_FALSE(context.cancel_requested());
    flag = true;
    CHECK(context.cancel_requested());
}

TEST_CASE("a hedged query's latency in the stats is its wall time, not the sum of its overlapping calls") {
    // On a manual clock: the backup takes 150 ms while mini waits; mini then takes 500 ms more.
    // The query lasts 650 ms, mini 650 ms and big 150 ms, which run at once.
    std::atomic<std::int64_t> manual_ns{0};
    cascade::CascadeOptions options;
    options.now = [&manual_ns] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(manual_ns.load())); };
    cascade::Cascade c{
        options,
        cascade::with_hedge_after(cascade::tier(
                                      "mini",
                                      [&](const std::string&, const cascade::CallContext& context) {
                                          eventually([&] { return context.cancel_requested(); });
                                          manual_ns += std::chrono::nanoseconds(500ms).count();
                                          return Answer{"mini", 0.9};
                                      },
                                      confidence_of, 0.5),
                                  1ms),
        cascade::tier("big", [&](const std::string&) {
            manual_ns += std::chrono::nanoseconds(150ms).count();
            return Answer{"big", 1.0};
        })};
    auto r = c.run(std::string("q"));
    REQUIRE(r.tier() == "big");
    CHECK(r.latency() == 650ms);

    const cascade::Stats s = c.stats();
    CHECK(s.latency == 650ms);
    CHECK(s.mean_latency() == 650ms);
    CHECK(s.tiers[0].latency == 650ms);
    CHECK(s.tiers[1].latency == 150ms);
    const std::string text = cascade::prometheus_text(s, "qa");
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_latency_seconds_total 0.65\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_tier_latency_seconds_total{tier=\"big\"} 0.15\n"));

    c.run(std::string("q"));  // the sum over queries stays each query's wall time
    CHECK(c.stats().latency == 1300ms);
}

TEST_CASE("a race whose backup starts after the primary has ended still sums its query's latency in stats") {
    // The primary's end is read, then the backup starts before the primary reports back: the two
    // calls did not overlap, and Stats::latency must still be the query's own time.
    std::atomic<std::int64_t> manual_ns{0};
    std::atomic<bool> backup_started{false};
    std::atomic<int> caller_reads{0};
    const auto caller = std::this_thread::get_id();
    cascade::CascadeOptions options;
    options.now = [&] {
        const auto t = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(manual_ns.load()));
        if (std::this_thread::get_id() == caller && ++caller_reads == 2) {
            while (!backup_started.load()) std::this_thread::sleep_for(1ms);  // the primary's end is read
        }
        return t;
    };
    options.on_event = [&](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::hedge_started) {
            manual_ns += std::chrono::nanoseconds(100ms).count();
            backup_started = true;
        }
    };
    cascade::Cascade c{options,
                       cascade::with_hedge_after(cascade::tier("mini", [](const std::string&) { return std::string("m"); },
                                                               [](const std::string&) { return 0.1; }, 0.5),
                                                 1ms),
                       cascade::tier("big", [&](const std::string&) {
                           manual_ns += std::chrono::nanoseconds(50ms).count();
                           return std::string("b");
                       })};
    const auto r = c.run(std::string("q"));
    REQUIRE(r.has_value());
    CHECK(r.value() == "b");
    REQUIRE(r.trace().size() == 2);
    CHECK(r.trace()[1].note.empty());  // a backup that ran, not a lost race
    const cascade::Stats s = c.stats();
    CHECK(r.latency() == 150ms);
    CHECK(s.latency == r.latency());
}
