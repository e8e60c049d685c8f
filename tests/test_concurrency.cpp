// Many threads through one Cascade and one Router: the counters behind stats() must add up to
// exactly what the returned results say, and (under TSan) nothing may race.
#include "catch.hpp"

#include <cascade/cascade.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int thread_count = 8;
constexpr int queries_per_thread = 2000;
constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

struct Answer {
    int query = 0;
    int tier = 0;
};

std::int64_t nano(double dollars) { return std::llround(dollars * 1e9); }

// The behaviour of every tier is a function of the query alone, so any thread may run any query.
// With m = q % 10 and k = (q / 10) % 4:
//   m 0-3: mini accepts              m 6: mini's verifier gives NaN, mid rejects, big answers
//   m 4:   mini rejects, mid accepts m 7, 8: mini and mid reject, big answers
//   m 5:   mini's model throws; mid throws when k is odd; big throws when k == 3 (unanswered)
//   m 9:   mini and mid reject; big throws when k == 0 (fallback to mid)
// mid's cost function gives NaN for every third query; its check costs $0.00001.
int m_of(int q) { return q % 10; }
int k_of(int q) { return (q / 10) % 4; }

auto make_cascade(const std::string& prefix, std::atomic<int>* big_calls) {
    return cascade::Cascade{
        cascade::tier(
            prefix + "mini",
            [](int q) {
                if (m_of(q) == 5) throw std::runtime_error("mini down");
                return Answer{q, 0};
            },
            [](int q, const Answer&) { return m_of(q) < 4 ? 0.9 : m_of(q) == 6 ? nan_value : 0.2; }, 0.8,
            cascade::price_per_call(0.0002)),
        cascade::tier(
            prefix + "mid",
            [](int q) {
                if (m_of(q) == 5 && k_of(q) % 2 == 1) throw 5;
                return Answer{q, 1};
            },
            [](const Answer& a) { return cascade::Verdict{m_of(a.query) == 4 ? 0.95 : 0.1, 0.00001, ""}; }, 0.8,
            cascade::cost_from([](const Answer& a) { return a.query % 3 == 0 ? nan_value : 0.001; })),
        cascade::tier(prefix + "big",
                      [big_calls](int q) {
                          big_calls->fetch_add(1, std::memory_order_relaxed);
                          if ((m_of(q) == 5 && k_of(q) == 3) || (m_of(q) == 9 && k_of(q) == 0)) {
                              throw std::runtime_error("big down");
                          }
                          return Answer{q, 2};
                      },
                      cascade::price_per_call(0.005))};
}

// What the results of one cascade say its counters must be.
struct CascadeTally {
    struct Tier {
        std::uint64_t calls = 0, accepted = 0, rejected = 0, model_errors = 0, verifier_errors = 0, cost_errors = 0;
        std::int64_t cost_nano = 0;
        std::chrono::nanoseconds latency{0};
    };
    std::array<Tier, 3> tiers{};
    std::uint64_t queries = 0, accepted = 0, fallbacks = 0, unanswered = 0, escalations = 0, errors = 0;
    std::int64_t cost_nano = 0;
    std::chrono::nanoseconds latency{0};

    void add(const cascade::Result<Answer>& r) {
        ++queries;
        switch (r.resolution()) {
            case cascade::Resolution::accepted: ++accepted; break;
            case cascade::Resolution::fallback: ++fallbacks; break;
            case cascade::Resolution::unanswered: ++unanswered; break;
        }
        escalations += r.escalations();
        latency += r.latency();
        std::size_t i = 0;
        for (const cascade::Attempt& a : r.trace()) {
            Tier& t = tiers[i++];
            if (!a.called()) continue;
            ++t.calls;
            t.accepted += a.status == cascade::AttemptStatus::accepted ? 1u : 0u;
            t.rejected += a.status == cascade::AttemptStatus::rejected ? 1u : 0u;
            t.model_errors += a.status == cascade::AttemptStatus::model_error ? 1u : 0u;
            t.verifier_errors += a.status == cascade::AttemptStatus::verifier_error ? 1u : 0u;
            t.cost_errors += a.note.find("cost function") != std::string::npos ? 1u : 0u;
            errors += a.status == cascade::AttemptStatus::model_error ||
                              a.status == cascade::AttemptStatus::verifier_error
                          ? 1u
                          : 0u;
            t.cost_nano += nano(a.cost);
            cost_nano += nano(a.cost);
            t.latency += a.latency;
        }
    }

    void merge(const CascadeTally& o) {
        for (std::size_t i = 0; i < tiers.size(); ++i) {
            tiers[i].calls += o.tiers[i].calls;
            tiers[i].accepted += o.tiers[i].accepted;
            tiers[i].rejected += o.tiers[i].rejected;
            tiers[i].model_errors += o.tiers[i].model_errors;
            tiers[i].verifier_errors += o.tiers[i].verifier_errors;
            tiers[i].cost_errors += o.tiers[i].cost_errors;
            tiers[i].cost_nano += o.tiers[i].cost_nano;
            tiers[i].latency += o.tiers[i].latency;
        }
        queries += o.queries;
        accepted += o.accepted;
        fallbacks += o.fallbacks;
        unanswered += o.unanswered;
        escalations += o.escalations;
        errors += o.errors;
        cost_nano += o.cost_nano;
        latency += o.latency;
    }
};

void check_stats_match(const cascade::Stats& s, const CascadeTally& t) {
    CHECK(s.queries == t.queries);
    CHECK(s.accepted == t.accepted);
    CHECK(s.fallbacks == t.fallbacks);
    CHECK(s.unanswered == t.unanswered);
    CHECK(s.escalations == t.escalations);
    CHECK(s.errors == t.errors);
    CHECK(nano(s.cost) == t.cost_nano);
    CHECK(s.latency == t.latency);
    REQUIRE(s.tiers.size() == t.tiers.size());
    for (std::size_t i = 0; i < t.tiers.size(); ++i) {
        INFO("tier " << s.tiers[i].name);
        CHECK(s.tiers[i].calls == t.tiers[i].calls);
        CHECK(s.tiers[i].accepted == t.tiers[i].accepted);
        CHECK(s.tiers[i].rejected == t.tiers[i].rejected);
        CHECK(s.tiers[i].model_errors == t.tiers[i].model_errors);
        CHECK(s.tiers[i].verifier_errors == t.tiers[i].verifier_errors);
        CHECK(s.tiers[i].cost_errors == t.tiers[i].cost_errors);
        CHECK(nano(s.tiers[i].cost) == t.tiers[i].cost_nano);
        CHECK(s.tiers[i].latency == t.tiers[i].latency);
    }
}

// The paths the fixture is meant to take all happened, so the totals compared are not trivial.
void check_every_path_taken(const CascadeTally& t) {
    CHECK(t.tiers[0].accepted > 0u);
    CHECK(t.tiers[1].accepted > 0u);
    CHECK(t.tiers[2].accepted > 0u);
    CHECK(t.tiers[0].model_errors > 0u);
    CHECK(t.tiers[0].verifier_errors > 0u);
    CHECK(t.tiers[1].model_errors > 0u);
    CHECK(t.tiers[1].cost_errors > 0u);
    CHECK(t.tiers[2].model_errors > 0u);
    CHECK(t.fallbacks > 0u);
    CHECK(t.unanswered > 0u);
}

// Runs `work(thread, query)` for every query of every thread, all threads at once.
template <class Work>
void run_threads(Work work) {
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([t, &work] {
            for (int i = 0; i < queries_per_thread; ++i) work(t, t * queries_per_thread + i);
        });
    }
    for (std::thread& th : threads) th.join();
}

}  // namespace

TEST_CASE("one Cascade shared by 8 threads counts exactly what its results report") {
    std::atomic<int> big_calls{0};
    auto c = make_cascade("", &big_calls);
    std::vector<CascadeTally> tallies(thread_count);

    // A reader takes snapshots while the queries run: each total only ever grows.
    std::atomic<bool> done{false};
    std::uint64_t last_seen = 0;
    bool snapshots_grow = true;
    std::thread reader([&] {
        while (!done.load(std::memory_order_acquire)) {
            const std::uint64_t now = c.stats().queries;
            snapshots_grow = snapshots_grow && now >= last_seen;
            last_seen = now;
            std::this_thread::yield();
        }
    });
    run_threads([&](int t, int q) { tallies[static_cast<std::size_t>(t)].add(c.run(q)); });
    done.store(true, std::memory_order_release);
    reader.join();

    CascadeTally total;
    for (const CascadeTally& t : tallies) total.merge(t);
    REQUIRE(total.queries == static_cast<std::uint64_t>(thread_count * queries_per_thread));
    check_every_path_taken(total);

    const cascade::Stats s = c.stats();
    check_stats_match(s, total);
    CHECK(s.tiers[2].calls == static_cast<std::uint64_t>(big_calls.load()));
    CHECK(snapshots_grow);
    CHECK(last_seen <= s.queries);
    REQUIRE(s.baseline_cost.has_value());
    CHECK(nano(*s.baseline_cost) == nano(0.005 * static_cast<double>(s.queries)));
}

TEST_CASE("one Router shared by 8 threads counts exactly what its results report") {
    // Difficulty from the query: every 37th scorer call throws and every 41st gives NaN (both
    // sent to the last route); otherwise (q % 100) / 100 against the thresholds 0.3 and 0.6.
    auto scorer = [](int q) -> double {
        if (q % 37 == 0) throw std::runtime_error("scorer down");
        if (q % 41 == 0) return nan_value;
        return static_cast<double>(q % 100) / 100.0;
    };
    std::atomic<int> big_calls{0};
    cascade::Router router{scorer,
                           {0.3, 0.6},
                           [](int q) { return Answer{q, -1}; },
                           cascade::tier("solo", [](int q) { return Answer{q, 0}; },
                                         [](const Answer& a) { return cascade::Verdict{a.query % 2 ? 1.0 : 0.0, 0.0003, ""}; },
                                         0.5, cascade::price_per_call(0.003)),
                           make_cascade("r-", &big_calls)};

    struct RouteTally {
        std::uint64_t queries = 0, unanswered = 0;
        std::int64_t cost_nano = 0;
        std::chrono::nanoseconds latency{0};
    };
    struct Tally {
        std::array<RouteTally, 3> routes{};
        std::uint64_t scorer_errors = 0;
        CascadeTally inner;  // the results of the cascade route
    };
    std::vector<Tally> tallies(thread_count);

    std::atomic<bool> done{false};
    std::uint64_t last_seen = 0;
    bool snapshots_grow = true;
    std::thread reader([&] {
        while (!done.load(std::memory_order_acquire)) {
            const std::uint64_t now = router.stats().queries;
            snapshots_grow = snapshots_grow && now >= last_seen;
            last_seen = now;
            std::this_thread::yield();
        }
    });
    run_threads([&](int t, int q) {
        Tally& tally = tallies[static_cast<std::size_t>(t)];
        auto routed = router.run(q);
        RouteTally& route = tally.routes[routed.route()];
        ++route.queries;
        route.unanswered += routed.has_value() ? 0u : 1u;
        route.cost_nano += nano(routed.cost());
        route.latency += routed.latency() + routed.scorer_latency();
        tally.scorer_errors += routed.score() ? 0u : 1u;
        if (routed.route() == 2) tally.inner.add(routed);
    });
    done.store(true, std::memory_order_release);
    reader.join();

    Tally total;
    for (const Tally& t : tallies) {
        for (std::size_t i = 0; i < total.routes.size(); ++i) {
            total.routes[i].queries += t.routes[i].queries;
            total.routes[i].unanswered += t.routes[i].unanswered;
            total.routes[i].cost_nano += t.routes[i].cost_nano;
            total.routes[i].latency += t.routes[i].latency;
        }
        total.scorer_errors += t.scorer_errors;
        total.inner.merge(t.inner);
    }
    CHECK(total.scorer_errors > 0u);
    for (const RouteTally& r : total.routes) CHECK(r.queries > 0u);
    check_every_path_taken(total.inner);

    const cascade::RouterStats s = router.stats();
    CHECK(s.queries == static_cast<std::uint64_t>(thread_count * queries_per_thread));
    CHECK(s.scorer_errors == total.scorer_errors);
    std::uint64_t unanswered = 0;
    std::int64_t cost_nano = 0;
    std::chrono::nanoseconds latency{0};
    REQUIRE(s.routes.size() == 3u);
    for (std::size_t i = 0; i < total.routes.size(); ++i) {
        INFO("route " << s.routes[i].name);
        CHECK(s.routes[i].queries == total.routes[i].queries);
        CHECK(s.routes[i].unanswered == total.routes[i].unanswered);
        CHECK(nano(s.routes[i].cost) == total.routes[i].cost_nano);
        CHECK(s.routes[i].latency == total.routes[i].latency);
        unanswered += total.routes[i].unanswered;
        cost_nano += total.routes[i].cost_nano;
        latency += total.routes[i].latency;
    }
    CHECK(s.unanswered == unanswered);
    CHECK(nano(s.cost) == cost_nano);
    CHECK(s.latency == latency);
    CHECK(snapshots_grow);
    CHECK(last_seen <= s.queries);

    // The cascade behind route 2 keeps its own counters, which match its share of the results.
    check_stats_match(router.route<2>().stats(), total.inner);
    CHECK(router.route<2>().stats().tiers[2].calls == static_cast<std::uint64_t>(big_calls.load()));
    CHECK(router.route<1>().stats().queries == total.routes[1].queries);
    CHECK(router.route<0>().stats().queries == total.routes[0].queries);
}
