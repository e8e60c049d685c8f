// SPDX-License-Identifier: MIT
#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/detail/number.hpp>
#include <cascade/eval/monitor_replay.hpp>
#include <cascade/eval/quality_monitor.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "outcome_table.hpp"
#include "synthetic_outcomes.hpp"

namespace {

// A stream of `queries` queries answered by "cheap" ($0.25) and "ref" ($2). The reference is
// right 90% of the time; cheap's confidence is uniform in [0, 1), and above 0.5 (where a cascade
// with threshold 0.5 takes its answer) it is right 97% of the time, well above 0.95 x 0.9, but
// only `bad_skill` of the time for the queries in [bad_from, bad_to): a silent degradation.
std::string drifting_stream(std::size_t queries, std::uint64_t seed, std::size_t bad_from, std::size_t bad_to,
                            double bad_skill = 0.3) {
    cascade_test::Lcg random(seed);
    std::string out = "query_id,model,quality,cost,confidence\n";
    for (std::size_t q = 0; q < queries; ++q) {
        const double confidence = random.unit();
        const bool bad = q >= bad_from && q < bad_to;
        const double skill = confidence >= 0.5 ? (bad ? bad_skill : 0.97) : 0.3;
        const int cheap_right = random.unit() < skill ? 1 : 0;
        const int ref_right = random.unit() < 0.9 ? 1 : 0;
        std::string id = "q";  // built in two steps: GCC 12 at -O3 warns on "q" + std::to_string(q)
        id += std::to_string(q);
        out += id + ",cheap," + std::to_string(cheap_right) + ",0.25," + cascade::detail::format_number(confidence) + "\n";
        out += id + ",ref," + std::to_string(ref_right) + ",2,\n";
    }
    return out;
}

cascade::MonitorReplayOptions cheap_then_ref(double label_rate, bool act = false, std::uint64_t seed = 1) {
    cascade::MonitorReplayOptions o;
    o.chain = {"cheap", "ref"};
    o.thresholds = {0.5};
    o.target = 0.95;
    o.label_rate = label_rate;
    o.alpha = 0.001;
    o.window = 200;
    o.act = act;
    o.seed = seed;
    return o;
}

// The queries a replay labelled, read off its label cost where query q's reference costs 2^q
// dollars: bit q of the total is set exactly when q was labelled.
std::set<int> queries_labelled(const cascade::MonitorReplayReport& r, int n) {
    std::set<int> labelled;
    for (int q = 0; q < n; ++q) {
        if (std::fmod(std::floor(r.monitored.label_cost / std::ldexp(1.0, q)), 2.0) == 1.0) labelled.insert(q);
    }
    return labelled;
}

std::string message_of(const cascade::OutcomeTable& t, const cascade::MonitorReplayOptions& o) {
    try {
        (void)cascade::replay_monitored(t, o);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no exception)";
}

}  // namespace

TEST_CASE("no alarm on a stationary stream that keeps the target") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const auto t = table_of(drifting_stream(4000, seed, 4000, 4000));
        const auto r = cascade::replay_monitored(t, cheap_then_ref(0.2, true, seed));
        INFO("seed " << seed);
        CHECK(r.alarms.empty());
        CHECK(r.adjustments.empty());
        CHECK(r.monitored.windows == 20);
        CHECK(r.monitored.windows_below_target == 0);
        // Nothing acted, so the monitored cascade answered exactly as the static one.
        CHECK(r.monitored.quality == r.static_thresholds.quality);
        CHECK(r.monitored.cost == r.static_thresholds.cost);
    }
}

TEST_CASE("alarms after a planted degradation and not before it") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const auto t = table_of(drifting_stream(4000, seed, 2000, 4000));
        const auto r = cascade::replay_monitored(t, cheap_then_ref(0.2, false, seed));
        INFO("seed " << seed);
        REQUIRE_FALSE(r.alarms.empty());
        const cascade::MonitorEvent& a = r.alarms.front();
        CHECK(a.query >= 2000);
        CHECK(a.query < 3000);
        CHECK(a.tier == 0);
        CHECK(a.model == "cheap");
        CHECK(a.evidence >= 1.0 / 0.001);
        CHECK(a.loss_estimate > 0.0);  // the tier's labels say it lost quality
        CHECK(a.labels > 0);
        // Alarm only: the answers are the static thresholds' ones.
        CHECK(r.adjustments.empty());
        CHECK(r.monitored.windows_below_target == r.static_thresholds.windows_below_target);
        CHECK(r.static_thresholds.windows_below_target >= 8);
    }
}

TEST_CASE("acting on an alarm reduces the windows below target, at a cost") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const auto t = table_of(drifting_stream(4000, seed, 2000, 4000));
        const auto r = cascade::replay_monitored(t, cheap_then_ref(0.2, true, seed));
        INFO("seed " << seed);
        REQUIRE_FALSE(r.adjustments.empty());
        CHECK(r.adjustments.front().action == "reject");
        CHECK(r.adjustments.front().query == r.alarms.front().query);
        // The degradation lasts, so the tier is never trusted again.
        CHECK(r.adjustments.size() == 1);
        CHECK(r.monitored.windows_below_target + 4 <= r.static_thresholds.windows_below_target);
        CHECK(r.monitored.quality > r.static_thresholds.quality);
        CHECK(r.monitored.answered[0] < r.static_thresholds.answered[0]);
    }
}

TEST_CASE("a rejected tier keeps being tested and is accepted again when it recovers") {
    // A short, sharp degradation: the recovery test, which counts from the alarm, has only a few
    // bad labels to make up for before the good ones after the degradation carry it.
    const auto t = table_of(drifting_stream(10000, 3, 1000, 1300, 0.1));
    const auto r = cascade::replay_monitored(t, cheap_then_ref(0.2, true, 3));
    REQUIRE(r.adjustments.size() >= 2);
    CHECK(r.adjustments[0].action == "reject");
    CHECK(r.adjustments[0].query >= 1000);
    CHECK(r.adjustments[1].action == "accept");
    CHECK(r.adjustments[1].query >= 1300);
    CHECK(r.adjustments[1].evidence >= 1.0 / 0.001);
    CHECK(r.adjustments[1].loss_estimate < 0.0);
    CHECK(r.recoveries.size() == 1);
    // Trusted again well before the end, the cheap tier answers its share again (about 0.5 of
    // the queries when trusted, none while rejected).
    CHECK(r.adjustments[1].query < 8000);
    CHECK(r.monitored.answered[0] > 0.5 * (10000.0 - static_cast<double>(r.adjustments[1].query)) / 10000.0 * 0.8);
}

TEST_CASE("labels, their cost and the saving add up on a hand-checked stream") {
    // cheap accepts q0 and q2 (confidence >= 0.5), passes q1 and q3 to ref.
    const std::string csv =
        "query_id,model,quality,cost,confidence\n"
        "q0,cheap,1,0.25,0.9\nq0,ref,1,2,\n"
        "q1,cheap,0,0.25,0.1\nq1,ref,1,2,\n"
        "q2,cheap,0,0.25,0.7\nq2,ref,1,2,\n"
        "q3,cheap,1,0.25,0.2\nq3,ref,0,2,\n";
    const auto t = table_of(csv);
    auto o = cheap_then_ref(1.0);
    o.window = 2;
    const auto r = cascade::replay_monitored(t, o);
    CHECK(r.queries == 4);
    CHECK(r.labels == 2);                     // q0 and q2: the queries cheap answered
    CHECK(r.monitored.label_cost == 4.0);     // a shadow call of ref on each
    CHECK(r.monitored.cost == 5.0);           // 4 x 0.25 + 2 x 2
    CHECK(r.reference_cost == 8.0);
    CHECK(r.monitored.saving == 1.0 - 9.0 / 8.0);
    CHECK(r.static_thresholds.label_cost == 0.0);
    CHECK(r.static_thresholds.saving == 1.0 - 5.0 / 8.0);
    CHECK(r.reference_quality == 0.75);
    CHECK(r.monitored.quality == 0.5);        // q0 right, q1 right, q2 wrong, q3 wrong
    // Window {q0, q1}: 2 right vs 0.95 x 2; window {q2, q3}: 0 right vs 0.95 x 1.
    CHECK(r.monitored.windows == 2);
    CHECK(r.monitored.windows_below_target == 1);
    CHECK(r.monitored.answered == std::vector<double>{0.5, 0.5});

    o.label_rate = 0.0;
    const auto none = cascade::replay_monitored(t, o);
    CHECK(none.labels == 0);
    CHECK(none.monitored.label_cost == 0.0);
    CHECK(none.monitored.saving == none.static_thresholds.saving);
}

TEST_CASE("a rejected tier's held-back answer is labelled by a shadow call, as the live guard has it labelled") {
    // cheap is wrong on q0..q2 at high confidence: with alpha 0.85 (an alarm at an
    // e-value of 1.18) one bad label alarms.
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (const char* q : {"q0", "q1", "q2"}) {
        csv += std::string(q) + ",cheap,0,0.25,0.9\n" + q + ",ref,1,2,\n";
    }
    auto o = cheap_then_ref(1.0, true);
    o.alpha = 0.85;
    const auto r = cascade::replay_monitored(table_of(csv), o);
    REQUIRE(r.alarms.size() == 1);
    CHECK(r.alarms[0].query == 0);
    // q0 was answered by cheap and labelled by a shadow call; q1 and q2 were escalated to ref,
    // and cheap's held-back answers labelled by a shadow call each: the live monitor's guard
    // offers them without the answer that replaced them.
    CHECK(r.labels == 3);
    CHECK(r.monitored.label_cost == 6.0);
    CHECK(r.monitored.cost == 3 * 0.25 + 2 * 2.0);
    CHECK(r.monitored.answered == std::vector<double>{1.0 / 3.0, 2.0 / 3.0});
}

TEST_CASE("a held-back answer and the answer given on the same query are two labels") {
    // cheap alarms on q0 (alpha 0.85); from q1 on it is held back and mid answers: the live
    // monitor then queues both answers, each a call of its labeller.
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (const char* q : {"q0", "q1", "q2"}) {
        csv += std::string(q) + ",cheap,0,0.25,0.9\n" + q + ",mid,1,0.5,0.9\n" + q + ",ref,1,2,\n";
    }
    cascade::MonitorReplayOptions o = cheap_then_ref(1.0, true);
    o.chain = {"cheap", "mid", "ref"};
    o.thresholds = {0.5, 0.5};
    o.alpha = 0.85;
    const auto r = cascade::replay_monitored(table_of(csv), o);
    REQUIRE(r.alarms.size() == 1);
    CHECK(r.alarms[0].model == "cheap");
    CHECK(r.labels == 5);  // q0: cheap's; q1 and q2: cheap's held back and mid's
    CHECK(r.monitored.label_cost == 5 * 2.0);
    CHECK(r.monitored.answered == std::vector<double>{1.0 / 3.0, 2.0 / 3.0, 0.0});
}

TEST_CASE("the label sampling follows the rate and the seed") {
    const auto t = table_of(drifting_stream(4000, 7, 4000, 4000));
    const auto a = cascade::replay_monitored(t, cheap_then_ref(0.1, false, 11));
    const auto b = cascade::replay_monitored(t, cheap_then_ref(0.1, false, 11));
    const auto c = cascade::replay_monitored(t, cheap_then_ref(0.1, false, 12));
    CHECK(a.labels == b.labels);
    CHECK(a.monitored.label_cost == b.monitored.label_cost);
    const double below = a.static_thresholds.answered[0] * 4000;  // about 2000 queries
    CHECK(static_cast<double>(a.labels) > 0.07 * below);
    CHECK(static_cast<double>(a.labels) < 0.13 * below);
    CHECK(a.labels != c.labels);  // another seed labels other queries (here, another number of them)
    CHECK(a.monitored.label_cost == 2.0 * static_cast<double>(a.labels));
}

TEST_CASE("the replay labels the same queries as the live monitor for the same seed and order") {
    // 52 queries, all answered by "cheap"; the reference's cost on query q is 2^q dollars, so the
    // replay's label cost, a sum of the labelled queries' reference costs, spells out exactly which
    // queries it labelled (sums of distinct powers of two up to 2^52 are exact in a double).
    constexpr int n = 52;
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (int q = 0; q < n; ++q) {
        const std::string id = "q" + std::to_string(q);
        csv += id + ",cheap,1,0,0.9\n" + id + ",ref,1," + std::to_string(std::uint64_t{1} << q) + ",\n";
    }
    const auto t = table_of(csv);

    struct Query {
        int id = 0;
    };
    cascade::Cascade c{cascade::tier("cheap", [](const Query& q) { return q.id; }, [](int) { return 0.9; }, 0.5),
                       cascade::tier("ref", [](const Query& q) { return q.id; })};
    std::size_t labelled = 0;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        const auto r = cascade::replay_monitored(t, cheap_then_ref(0.5, false, seed));
        const std::set<int> replayed = queries_labelled(r, n);
        REQUIRE(replayed.size() == r.labels);

        std::mutex m;
        std::set<int> live;
        cascade::MonitorOptions o;
        o.label_rate = 0.5;
        o.seed = seed;
        o.queue_capacity = n;
        cascade::QualityMonitor<Query, int> monitor(
            {"cheap", "ref"},
            [&](const Query& q, const int&, std::size_t) {
                std::lock_guard<std::mutex> lock(m);
                live.insert(q.id);
                return cascade::MonitorLabel{1.0, 1.0, 0.0};
            },
            o);
        for (int q = 0; q < n; ++q) monitor.observe("q" + std::to_string(q), Query{q}, c.run(Query{q}));
        monitor.drain();
        INFO("seed " << seed);
        CHECK(monitor.stats().labels_requested == r.labels);
        CHECK(live == replayed);
        labelled += replayed.size();
    }
    // About half of the 20 x 52 queries: neither side labelled all or none.
    CHECK(labelled > 400);
    CHECK(labelled < 640);
}

TEST_CASE("suspect labelling catches a degradation in fewer queries, for few more labels on a healthy stream") {
    // cheap falls from 97% to 70% right on the queries it answers (it must keep 85.5%): a drop a
    // steady 5% of labels rarely confirms within the 4,000 queries after it.
    std::size_t plain_delay = 0;
    std::size_t suspect_delay = 0;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        INFO("seed " << seed);
        const auto drifting = table_of(drifting_stream(6000, seed, 2000, 6000, 0.7));
        auto o = cheap_then_ref(0.05, false, seed);
        const auto plain = cascade::replay_monitored(drifting, o);
        o.label_rate = 0.04;
        o.suspect_label_rate = 1.0;
        const auto suspect = cascade::replay_monitored(drifting, o);
        REQUIRE_FALSE(suspect.alarms.empty());
        CHECK(suspect.alarms.front().query >= 2000);  // no false alarm before the drop
        CHECK(suspect.alarms.front().evidence >= 1.0 / 0.001);
        CHECK(suspect.alarms.front().loss_estimate > 0.0);
        CHECK(suspect.suspect_label_rate == 1.0);
        // A run with no alarm counts the rest of the stream.
        plain_delay += (plain.alarms.empty() ? 6000 : plain.alarms.front().query) - 2000;
        suspect_delay += suspect.alarms.front().query - 2000;

        // The same stream without the drop: no alarm, and about as many labels as a steady 5%.
        const auto healthy = table_of(drifting_stream(6000, seed, 6000, 6000));
        const auto steady = cascade::replay_monitored(healthy, cheap_then_ref(0.05, false, seed));
        const auto watched = cascade::replay_monitored(healthy, o);
        CHECK(watched.alarms.empty());
        CHECK(static_cast<double>(watched.labels) < 1.25 * static_cast<double>(steady.labels));
    }
    CHECK(2 * suspect_delay < plain_delay);
}

TEST_CASE("acting on suspicion holds a suspect tier back on the same evidence, and keeps fewer windows below target") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        INFO("seed " << seed);
        const auto drifting = table_of(drifting_stream(6000, seed, 2000, 6000, 0.7));
        auto o = cheap_then_ref(0.04, true, seed);
        o.suspect_label_rate = 1.0;
        const auto on_alarm = cascade::replay_monitored(drifting, o);
        o.act_on_suspicion = true;
        const auto on_suspicion = cascade::replay_monitored(drifting, o);
        CHECK(on_suspicion.act_on_suspicion);
        // Up to the first alarm the held-back answers feed the detector at the suspect rate (all
        // of them) as the answers given did: the same alarm, at the same query, on the same
        // evidence. (After it, a distrusted tier's held-back answers are drawn from the guards'
        // own stream, as live, so the recoveries may differ.)
        REQUIRE_FALSE(on_alarm.alarms.empty());
        REQUIRE_FALSE(on_suspicion.alarms.empty());
        CHECK(on_suspicion.alarms[0].query == on_alarm.alarms[0].query);
        CHECK(on_suspicion.alarms[0].evidence == on_alarm.alarms[0].evidence);
        CHECK(on_suspicion.alarms[0].labels == on_alarm.alarms[0].labels);
        // The queries of the suspect stretches went to the reference instead.
        CHECK(on_suspicion.monitored.answered[0] < on_alarm.monitored.answered[0]);
        CHECK(on_suspicion.monitored.quality > on_alarm.monitored.quality);
        CHECK(on_suspicion.monitored.windows_below_target <= on_alarm.monitored.windows_below_target);
    }
    // It needs an acting monitor with suspect labelling.
    const auto t = table_of(drifting_stream(100, 1, 100, 100));
    auto o = cheap_then_ref(0.1, false);
    o.suspect_label_rate = 1.0;
    o.act_on_suspicion = true;
    CHECK_THAT(message_of(t, o), Catch::Matchers::ContainsSubstring("act_on_suspicion needs act"));
    o.act = true;
    o.suspect_label_rate.reset();
    CHECK_THAT(message_of(t, o), Catch::Matchers::ContainsSubstring("suspect_label_rate"));
}

TEST_CASE("with suspect labelling the replay labels the same queries as a live monitor that counts each label at once") {
    // As above, the reference's cost on query q is 2^q dollars; cheap is wrong on a third of the
    // queries, so its detector often holds evidence and the rate switches back and forth.
    constexpr int n = 52;
    auto cheap_right = [](int q) { return (q * 7) % 3 != 0; };
    std::string csv = "query_id,model,quality,cost,confidence\n";
    for (int q = 0; q < n; ++q) {
        const std::string id = "q" + std::to_string(q);
        csv += id + ",cheap," + (cheap_right(q) ? "1" : "0") + ",0,0.9\n" + id + ",ref,1," +
               std::to_string(std::uint64_t{1} << q) + ",\n";
    }
    const auto t = table_of(csv);
    struct Query {
        int id = 0;
    };
    cascade::Cascade c{cascade::tier("cheap", [](const Query& q) { return q.id; }, [](int) { return 0.9; }, 0.5),
                       cascade::tier("ref", [](const Query& q) { return q.id; })};
    std::size_t labelled = 0;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        auto ro = cheap_then_ref(0.2, false, seed);
        ro.suspect_label_rate = 1.0;
        const auto r = cascade::replay_monitored(t, ro);
        const std::set<int> replayed = queries_labelled(r, n);
        REQUIRE(replayed.size() == r.labels);

        std::mutex m;
        std::set<int> live;
        cascade::MonitorOptions o;
        o.label_rate = 0.2;
        o.suspect_label_rate = 1.0;
        o.seed = seed;
        cascade::QualityMonitor<Query, int> monitor(
            {"cheap", "ref"},
            [&](const Query& q, const int&, std::size_t) {
                std::lock_guard<std::mutex> lock(m);
                live.insert(q.id);
                return cascade::MonitorLabel{cheap_right(q.id) ? 1.0 : 0.0, 1.0, 0.0};
            },
            o);
        for (int q = 0; q < n; ++q) {
            monitor.observe("q" + std::to_string(q), Query{q}, c.run(Query{q}));
            monitor.drain();
        }
        INFO("seed " << seed);
        CHECK(live == replayed);
        labelled += replayed.size();
    }
    // Far more than the 20% a steady rate would label (about 208 of the 20 x 52 queries).
    CHECK(labelled > 400);
}

TEST_CASE("replay_monitored names what is wrong with its input") {
    const auto t = table_of(drifting_stream(10, 1, 10, 10));
    auto o = cheap_then_ref(0.1);
    o.chain = {"cheap", "nope"};
    CHECK(message_of(t, o).find("no model \"nope\"") != std::string::npos);
    o = cheap_then_ref(0.1);
    o.reference = "nope";
    CHECK(message_of(t, o).find("no model \"nope\"") != std::string::npos);
    o = cheap_then_ref(0.1);
    o.thresholds = {};
    CHECK(message_of(t, o).find("needs 1 thresholds") != std::string::npos);
    for (const double rate : {-0.1, 1.5}) {
        o = cheap_then_ref(rate);
        CHECK(message_of(t, o).find("label_rate must be in [0, 1]") != std::string::npos);
    }
    // A suspect labelled less than the rest, or not at all, would feed its detector less: its
    // evidence would stand still with no alarm (and, acting on suspicion, the tier stay benched).
    for (const double rate : {-0.5, 0.0, 0.05}) {
        o = cheap_then_ref(0.1);
        o.suspect_label_rate = rate;
        CHECK(message_of(t, o).find("suspect_label_rate must be in (0, 1] and at least label_rate (0.1)") !=
              std::string::npos);
    }
    o = cheap_then_ref(0.1);
    o.suspect_evidence = 0.5;
    CHECK(message_of(t, o).find("suspect_evidence must be a finite number > 1") != std::string::npos);
    o = cheap_then_ref(0.1);
    o.window = 0;
    CHECK(message_of(t, o).find("window must be at least 1") != std::string::npos);
    o = cheap_then_ref(0.1);
    o.alpha = 1.0;
    CHECK(message_of(t, o).find("alpha must be in (0, 1)") != std::string::npos);
    o = cheap_then_ref(0.1);
    o.target = 0.0;
    CHECK(message_of(t, o).find("target") != std::string::npos);
}
