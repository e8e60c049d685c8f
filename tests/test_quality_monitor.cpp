#include "catch.hpp"

#include <cascade/cascade.hpp>
#include <cascade/eval/quality_monitor.hpp>
#include <cascade/runtime/prometheus.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Query {
    int id = 0;
};

struct Answer {
    std::size_t tier = 0;
    bool correct = false;
};

// A fixed coin per (query, salt): the same on every run and thread.
bool coin(int id, std::uint64_t salt, double p) {
    const std::uint64_t n = static_cast<unsigned>(id);
    std::uint64_t x = (n * std::uint64_t{0x9E3779B97F4A7C15}) ^ salt;
    x = (x ^ (x >> 30U)) * std::uint64_t{0xBF58476D1CE4E5B9};
    x = (x ^ (x >> 27U)) * std::uint64_t{0x94D049BB133111EB};
    x ^= x >> 31U;
    return static_cast<double>(x >> 11U) * 0x1.0p-53 < p;
}

// The world the tests control: how often the cheap model and the reference are right.
struct World {
    std::atomic<double> mini_accuracy{0.95};
    double reference_accuracy = 0.9;
};

bool reference_right(const World& w, int id) { return coin(id, 2, w.reference_accuracy); }

// Grades an answer and the reference's on the same query, as a shadow call would.
auto grader(const World& w) {
    return [&w](const Query& q, const Answer& a, std::size_t) {
        return cascade::MonitorLabel{a.correct ? 1.0 : 0.0, reference_right(w, q.id) ? 1.0 : 0.0, 0.0};
    };
}

auto mini_model(World& w) {
    return [&w](const Query& q) { return Answer{0, coin(q.id, 1, w.mini_accuracy.load())}; };
}

auto big_model(World& w) {
    return [&w](const Query& q) { return Answer{1, reference_right(w, q.id)}; };
}

// The cheap model is always confident: only the monitor can make its queries escalate.
double confident(const Answer&) { return 0.9; }

std::string id_of(int i) { return "q" + std::to_string(i); }

// A gate a test opens once; threads wait on it without a timeout.
class Gate {
public:
    void open() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

void check_accounting(const cascade::QualityMonitorStats& s) {
    CHECK(s.queued == 0);
    CHECK(s.labels_requested == s.labelled + s.label_errors + s.labels_dropped + s.labels_over_budget);
}

}  // namespace

TEST_CASE("a tier as good as the reference never alarms over 5000 labels") {
    World w;
    w.mini_accuracy = 0.9;  // as often right as the reference, independently
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};
    cascade::MonitorOptions o;
    o.target = 0.95;
    o.alpha = 0.001;
    o.label_rate = 1.0;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    double max_evidence = 0.0;
    for (int i = 0; i < 5000; ++i) {
        const Query q{i};
        CHECK(monitor.observe(id_of(i), q, c.run(q)));
        if (i % 500 == 499) {
            monitor.drain();
            max_evidence = std::max(max_evidence, monitor.stats().tiers[0].evidence);
        }
    }
    monitor.drain();
    const auto s = monitor.stats();
    CHECK(s.labelled == 5000);
    REQUIRE(s.tiers.size() == 1);
    CHECK(s.tiers[0].labels == 5000);
    CHECK(s.tiers[0].alarms == 0);
    CHECK(s.tiers[0].trusted);
    CHECK(monitor.changes().empty());
    CHECK(max_evidence < 1.0 / o.alpha);
    // The mean loss is 0.95 x 0.9 - 0.9 = -0.045: the estimate sees the margin.
    REQUIRE(s.tiers[0].loss_estimate.has_value());
    CHECK(*s.tiers[0].loss_estimate == approx(-0.045).margin(0.02));
    check_accounting(s);
}

TEST_CASE("a degraded tier alarms, is held back by its guard, and recovers once fixed") {
    World w;
    std::vector<cascade::MonitorChange> heard;
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    o.act_on_alarm = true;
    o.queue_capacity = 4096;
    o.on_change = [&heard](const cascade::MonitorChange& m) { heard.push_back(m); };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), monitor.guard(0, confident, 0.8), 0.8),
                       cascade::tier("big", big_model(w))};
    int next = 0;
    auto run = [&](int n) {
        for (int i = 0; i < n; ++i, ++next) {
            const Query q{next};
            monitor.observe(id_of(next), q, c.run(q));
        }
        monitor.drain();
    };

    run(300);  // healthy: mini answers, no alarm
    CHECK(monitor.changes().empty());
    CHECK(monitor.accepts(0));

    w.mini_accuracy = 0.3;  // the provider swapped the model behind the name
    const int degraded_at = next;
    while (monitor.changes().empty() && next < degraded_at + 2000) run(10);
    REQUIRE(monitor.changes().size() == 1);
    CHECK_FALSE(monitor.accepts(0));
    CHECK(monitor.accepts(1));
    const cascade::MonitorChange alarm = monitor.changes()[0];
    CHECK(alarm.kind == cascade::MonitorChangeKind::alarm);
    CHECK(alarm.tier == 0);
    CHECK(alarm.tier_name == "mini");
    CHECK(alarm.evidence >= 1.0 / o.alpha);
    CHECK_FALSE(alarm.held_back);
    CHECK(alarm.labels > 300);
    CHECK(alarm.labels < 300 + 100);  // a drop this large is caught within tens of labels
    // The evidence's labels are the recent ones, mostly after the drop: their mean loss is near
    // 0.95 x 0.9 - 0.3 = 0.555, not diluted by the 300 healthy labels.
    CHECK(alarm.labels_since < 100);
    CHECK(alarm.loss_estimate > 0.3);
    const int alarm_query = std::stoi(alarm.query_id.substr(1));
    CHECK(alarm_query >= degraded_at);
    CHECK(alarm_query < next);

    // Distrusted: the guard gives 0, the query escalates, the trace says why.
    const auto held = c.run(Query{next++});
    CHECK(held.tier() == "big");
    CHECK(held.trace()[0].status == cascade::AttemptStatus::rejected);
    CHECK_THAT(held.trace()[0].note, Catch::Matchers::ContainsSubstring("held back"));

    // Fixed: only the guard's held-back answers reach the labeller, and they bring it back.
    w.mini_accuracy = 0.95;
    const auto before = monitor.stats().tiers[0].labels;
    const int fixed_at = next;
    while (monitor.changes().size() < 2 && next < fixed_at + 5000) run(50);
    REQUIRE(monitor.changes().size() == 2);
    CHECK(monitor.stats().tiers[0].labels > before);
    const cascade::MonitorChange recovery = monitor.changes()[1];
    CHECK(recovery.kind == cascade::MonitorChangeKind::recovery);
    CHECK(recovery.held_back);
    CHECK(recovery.query_id.empty());
    CHECK(recovery.evidence >= 1.0 / o.alpha);
    CHECK(recovery.loss_estimate < 0.0);
    CHECK(recovery.labels > alarm.labels);
    CHECK(monitor.accepts(0));
    CHECK(c.run(Query{next++}).tier() == "mini");

    // The hook heard the same changes, in order.
    REQUIRE(heard.size() == 2);
    CHECK(heard[0].kind == cascade::MonitorChangeKind::alarm);
    CHECK(heard[0].query_id == alarm.query_id);
    CHECK(heard[1].kind == cascade::MonitorChangeKind::recovery);
    const auto s = monitor.stats();
    CHECK(s.tiers[0].alarms == 1);
    CHECK(s.tiers[0].trusted);
    check_accounting(s);
}

TEST_CASE("a guard with threshold 0 lets the answer through, and the answer given is labelled once") {
    // A tier with threshold 0 accepts a confidence of 0, so its guard cannot hold an answer back:
    // the answer is given and observe() labels it. Offered as held back as well, one answer would
    // be labelled twice (two labeller calls, two charges, its loss counted twice).
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    o.alpha = 0.5;  // an alarm at an e-value of 2: a few wrong answers
    o.act_on_alarm = true;
    std::mutex m;
    std::vector<int> labelled;
    cascade::QualityMonitor<Query, Answer> monitor(
        {"mini", "big"},
        [&](const Query& q, const Answer&, std::size_t) {
            std::lock_guard<std::mutex> lock(m);
            labelled.push_back(q.id);
            return cascade::MonitorLabel{1.0, 1.0, 0.25};
        },
        o);
    auto mini = [](const Query&) { return Answer{0, true}; };
    cascade::Cascade c{cascade::tier("mini", mini, monitor.guard(0, confident, 0.0), 0.0),
                       cascade::tier("big", [](const Query&) { return Answer{1, true}; })};
    for (int i = 0; i < 100 && monitor.accepts(0); ++i) monitor.feedback(id_of(i), 0, 0.0, 1.0);
    REQUIRE_FALSE(monitor.accepts(0));
    const auto before = monitor.stats();

    const auto r = c.run(Query{7});
    CHECK(r.tier() == "mini");
    CHECK(r.trace()[0].confidence == 0.9);  // the verifier's, not a 0 that changes nothing
    CHECK_THAT(r.trace()[0].note, Catch::Matchers::ContainsSubstring("not held back: the quality monitor distrusts "
                                                                     "this tier, but its threshold 0"));
    CHECK(monitor.observe(id_of(7), Query{7}, r));
    monitor.drain();
    const auto s = monitor.stats();
    {
        std::lock_guard<std::mutex> lock(m);
        CHECK(labelled == std::vector<int>{7});
    }
    CHECK(s.labels_requested - before.labels_requested == 1);
    CHECK(s.labelled == 1);
    CHECK(s.label_cost == 0.25);
    CHECK(s.tiers[0].labels - before.tiers[0].labels == 1);
    check_accounting(s);
}

TEST_CASE("without act_on_alarm a distrusted tier keeps answering and is only reported") {
    World w;
    w.mini_accuracy = 0.2;
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), monitor.guard(0, confident, 0.8), 0.8),
                       cascade::tier("big", big_model(w))};
    for (int i = 0; i < 200; ++i) monitor.observe(id_of(i), Query{i}, c.run(Query{i}));
    monitor.drain();
    const auto s = monitor.stats();
    CHECK(s.tiers[0].alarms == 1);
    CHECK_FALSE(s.tiers[0].trusted);
    CHECK(s.tiers[0].accepted);
    CHECK(monitor.accepts(0));
    CHECK(c.run(Query{1000}).tier() == "mini");
}

TEST_CASE("a full queue drops and counts the label, and observe never waits for the labeller") {
    World w;
    Gate entered;
    Gate release;
    std::atomic<int> calls{0};
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    o.queue_capacity = 1;
    auto slow = [&](const Query&, const Answer&, std::size_t) {
        if (calls.fetch_add(1) == 0) {
            entered.open();
            release.wait();
        }
        return cascade::MonitorLabel{1.0, 1.0, 0.0};
    };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, slow, o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};

    CHECK(monitor.observe("a", Query{0}, c.run(Query{0})));
    entered.wait();  // the labeller holds the first query; the queue is empty again
    CHECK(monitor.observe("b", Query{1}, c.run(Query{1})));   // fills the queue's one place
    CHECK_FALSE(monitor.observe("c", Query{2}, c.run(Query{2})));  // full: dropped, not waited on
    CHECK_FALSE(monitor.observe("d", Query{3}, c.run(Query{3})));
    auto s = monitor.stats();
    CHECK(s.labels_requested == 4);
    CHECK(s.labels_dropped == 2);
    CHECK(s.queued == 1);
    CHECK(s.labelled == 0);

    release.open();
    monitor.drain();
    s = monitor.stats();
    CHECK(s.labelled == 2);
    CHECK(s.labels_dropped == 2);
    CHECK(calls.load() == 2);
    check_accounting(s);
}

TEST_CASE("queries the reference answered, or nobody, spend no label") {
    World w;
    std::atomic<int> calls{0};
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    auto count = [&](const Query&, const Answer&, std::size_t) {
        ++calls;
        return cascade::MonitorLabel{1.0, 1.0, 0.0};
    };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, count, o);
    cascade::Cascade unsure{cascade::tier("mini", mini_model(w), [](const Answer&) { return 0.1; }, 0.8),
                            cascade::tier("big", big_model(w))};
    cascade::Cascade failing{cascade::tier("mini", mini_model(w), [](const Answer&) { return 0.1; }, 0.8),
                             cascade::tier("big", [](const Query&) -> Answer { throw std::runtime_error("down"); })};
    for (int i = 0; i < 50; ++i) {
        CHECK_FALSE(monitor.observe(id_of(i), Query{i}, unsure.run(Query{i})));
        CHECK_FALSE(monitor.observe(id_of(i), Query{i}, failing.run(Query{i})));
    }
    monitor.drain();
    const auto s = monitor.stats();
    CHECK(s.queries == 100);
    CHECK(s.labels_requested == 0);
    CHECK(calls.load() == 0);
}

TEST_CASE("the label rate samples that fraction of the queries answered below the reference") {
    World w;
    cascade::MonitorOptions o;
    o.label_rate = 0.25;
    o.queue_capacity = 4096;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};
    int queued = 0;
    for (int i = 0; i < 4000; ++i) queued += monitor.observe(id_of(i), Query{i}, c.run(Query{i})) ? 1 : 0;
    monitor.drain();
    const auto s = monitor.stats();
    CHECK(s.queries == 4000);
    CHECK(static_cast<int>(s.labels_requested) == queued);
    CHECK(s.labels_requested > 900);   // 1000 expected; sd about 27
    CHECK(s.labels_requested < 1100);
    CHECK(s.labelled == s.labels_requested);
}

TEST_CASE("a labeller that throws or returns an invalid label is counted, and labelling goes on") {
    World w;
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    auto flaky = [](const Query& q, const Answer&, std::size_t) -> cascade::MonitorLabel {
        switch (q.id % 5) {
            case 0: throw std::runtime_error("grader timed out");
            case 1: return {std::numeric_limits<double>::quiet_NaN(), 1.0, 0.0};
            case 2: return {1.0, 1.5, 0.0};
            case 3: return {1.0, 1.0, -0.01};
            default: return {1.0, 1.0, 0.01};
        }
    };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, flaky, o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};
    for (int i = 0; i < 50; ++i) monitor.observe(id_of(i), Query{i}, c.run(Query{i}));
    monitor.drain();
    auto s = monitor.stats();
    CHECK(s.label_errors == 40);
    CHECK(s.labelled == 10);
    CHECK(s.tiers[0].labels == 10);
    CHECK(s.label_cost == approx(0.1));
    CHECK_THAT(s.last_label_error, Catch::Matchers::ContainsSubstring("cost"));
    check_accounting(s);

    monitor.observe("boom", Query{5}, c.run(Query{5}));
    monitor.drain();
    s = monitor.stats();
    CHECK_THAT(s.last_label_error, Catch::Matchers::ContainsSubstring("grader timed out"));
    CHECK_THAT(s.last_label_error, Catch::Matchers::ContainsSubstring("mini"));
}

TEST_CASE("feedback labels feed the same statistics without the queue") {
    cascade::MonitorOptions o;
    o.label_rate = 0.0;  // the labeller is never asked
    std::vector<std::string> heard;
    o.on_change = [&heard](const cascade::MonitorChange& m) { heard.push_back(m.query_id); };
    auto never = [](const Query&, const Answer&, std::size_t) -> cascade::MonitorLabel {
        throw std::logic_error("the labeller was called");
    };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "mid", "big"}, never, o);
    for (int i = 0; i < 200 && monitor.changes().empty(); ++i) {
        monitor.feedback(id_of(i), 1, 0.0, 1.0);  // "mid" is wrong where the reference is right
        monitor.feedback(id_of(i), 0, 1.0, 1.0);
    }
    const auto changes = monitor.changes();
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].tier == 1);
    CHECK(changes[0].tier_name == "mid");
    CHECK(changes[0].loss_estimate == approx(0.95));
    REQUIRE(heard.size() == 1);
    CHECK(heard[0] == changes[0].query_id);
    const auto s = monitor.stats();
    CHECK(s.feedback == 2 * changes[0].labels);
    CHECK(s.labelled == 0);
    CHECK(s.label_errors == 0);
    CHECK(s.tiers[0].trusted);
    CHECK_FALSE(s.tiers[1].trusted);
    CHECK_THROWS_WITH(monitor.feedback("x", 2, 1.0, 1.0), Catch::Matchers::ContainsSubstring("reference"));
    CHECK_THROWS_WITH(monitor.feedback("x", 0, 1.2, 1.0), Catch::Matchers::ContainsSubstring("answer_quality"));
    CHECK_THROWS_WITH(monitor.feedback("x", 0, 1.0, std::nan("")), Catch::Matchers::ContainsSubstring("reference_quality"));
}

TEST_CASE("the label budget stops labelling once spent") {
    World w;
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    o.label_budget = 1.0;
    std::atomic<int> calls{0};
    auto paid = [&](const Query&, const Answer&, std::size_t) {
        ++calls;
        return cascade::MonitorLabel{1.0, 1.0, 0.25};
    };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, paid, o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};
    for (int i = 0; i < 20; ++i) {
        monitor.observe(id_of(i), Query{i}, c.run(Query{i}));
        monitor.drain();
    }
    const auto s = monitor.stats();
    CHECK(calls.load() == 4);
    CHECK(s.labelled == 4);
    CHECK(s.label_cost == 1.0);
    CHECK(s.labels_over_budget == 16);
    check_accounting(s);
}

TEST_CASE("eight threads observe one monitor while others read it") {
    World w;
    w.mini_accuracy = 0.5;
    cascade::MonitorOptions o;
    o.label_rate = 0.5;
    o.queue_capacity = 16;
    o.act_on_alarm = true;
    std::atomic<int> hook_calls{0};
    o.on_change = [&](const cascade::MonitorChange&) { ++hook_calls; };
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    cascade::Cascade c{cascade::tier("mini", mini_model(w), monitor.guard(0, confident, 0.8), 0.8),
                       cascade::tier("big", big_model(w))};
    constexpr int threads = 8;
    constexpr int per_thread = 1500;
    std::atomic<bool> done{false};
    std::thread reader([&] {
        while (!done.load()) {
            const auto s = monitor.stats();
            CHECK(s.queued <= o.queue_capacity);
            (void)monitor.accepts(0);
            (void)monitor.changes();
            (void)cascade::prometheus_text(s, "m");
        }
    });
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const int id = t * per_thread + i;
                monitor.observe(id_of(id), Query{id}, c.run(Query{id}));
                if (i % 100 == 0) monitor.feedback(id_of(id), 0, 0.0, 1.0);
            }
        });
    }
    for (auto& th : pool) th.join();
    monitor.drain();
    done = true;
    reader.join();
    const auto s = monitor.stats();
    CHECK(s.queries == threads * per_thread);
    CHECK(s.feedback == threads * per_thread / 100);
    CHECK(s.tiers[0].labels == s.labelled + s.feedback);
    CHECK(s.labels_requested > 0);
    CHECK(s.tiers[0].alarms >= 1);
    CHECK(hook_calls.load() == static_cast<int>(monitor.changes().size()));
    check_accounting(s);
}

TEST_CASE("a router's routes are monitored like tiers") {
    World w;
    w.mini_accuracy = 0.1;
    cascade::MonitorOptions o;
    o.label_rate = 1.0;
    cascade::QualityMonitor<Query, Answer> monitor({"easy", "hard"}, grader(w), o);
    cascade::Router r([](const Query& q) { return q.id % 2 == 0 ? 0.1 : 0.9; }, {0.5},
                      cascade::tier("easy", mini_model(w)), cascade::tier("hard", big_model(w)));
    for (int i = 0; i < 200; ++i) monitor.observe(id_of(i), Query{i}, r.run(Query{i}));
    monitor.drain();
    const auto s = monitor.stats();
    CHECK(s.labels_requested == 100);  // the even queries, routed to "easy"
    CHECK(s.tiers[0].name == "easy");
    CHECK(s.tiers[0].alarms == 1);
}

TEST_CASE("the Prometheus text has a trusted gauge and the evidence per tier") {
    World w;
    cascade::MonitorOptions o;
    o.label_rate = 0.0;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "mid", "big"}, grader(w), o);
    std::string text = cascade::prometheus_text(monitor.stats(), "qa_monitor", {{"env", "prod"}});
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("# TYPE qa_monitor_tier_trusted gauge\n"
                                                        "qa_monitor_tier_trusted{env=\"prod\",tier=\"mini\"} 1\n"
                                                        "qa_monitor_tier_trusted{env=\"prod\",tier=\"mid\"} 1\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_evidence{env=\"prod\",tier=\"mini\"} 1\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_queries_total{env=\"prod\"} 0\n"));
    CHECK(text.find("tier=\"big\"") == std::string::npos);
    for (int i = 0; i < 100 && monitor.changes().empty(); ++i) monitor.feedback(id_of(i), 1, 0.0, 1.0);
    text = cascade::prometheus_text(monitor.stats(), "qa_monitor");
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_trusted{tier=\"mid\"} 0\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_alarms_total{tier=\"mid\"} 1\n"));
    CHECK_THROWS_WITH(cascade::prometheus_text(monitor.stats(), ""), Catch::Matchers::ContainsSubstring("prefix"));
    CHECK_THROWS_WITH(cascade::prometheus_text(monitor.stats(), "m", {{"tier", "x"}}),
                      Catch::Matchers::ContainsSubstring("tier"));
}

TEST_CASE("the Prometheus text has a suspect gauge per tier, 1 from the first evidence to its clearing or alarm") {
    World w;
    cascade::MonitorOptions o;
    o.label_rate = 0.0;
    o.suspect_label_rate = 1.0;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "mid", "big"}, grader(w), o);
    std::string text = cascade::prometheus_text(monitor.stats(), "qa_monitor", {{"env", "prod"}});
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring(
                         "# HELP qa_monitor_tier_suspect 1 while the tier is trusted but its detector holds some "
                         "evidence against it (labelled at the suspect rate), else 0.\n"
                         "# TYPE qa_monitor_tier_suspect gauge\n"
                         "qa_monitor_tier_suspect{env=\"prod\",tier=\"mini\"} 0\n"
                         "qa_monitor_tier_suspect{env=\"prod\",tier=\"mid\"} 0\n"));
    CHECK(text.find("qa_monitor_tier_suspect{env=\"prod\",tier=\"big\"}") == std::string::npos);
    // Two wrong answers where the reference was right: mid is a suspect, still trusted.
    monitor.feedback("review-1", 1, 0.0, 1.0);
    monitor.feedback("review-2", 1, 0.0, 1.0);
    REQUIRE(monitor.stats().tiers[1].suspect);
    text = cascade::prometheus_text(monitor.stats(), "qa_monitor");
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_suspect{tier=\"mini\"} 0\n"
                                                        "qa_monitor_tier_suspect{tier=\"mid\"} 1\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_trusted{tier=\"mid\"} 1\n"));
    // Its alarm ends the suspicion: distrusted, no longer a suspect.
    for (int i = 0; i < 100 && monitor.changes().empty(); ++i) monitor.feedback(id_of(i), 1, 0.0, 1.0);
    REQUIRE(monitor.changes().size() == 1);
    text = cascade::prometheus_text(monitor.stats(), "qa_monitor");
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_suspect{tier=\"mid\"} 0\n"));
    CHECK_THAT(text, Catch::Matchers::ContainsSubstring("qa_monitor_tier_trusted{tier=\"mid\"} 0\n"));
}

TEST_CASE("the monitor's Prometheus text and the runtime's are two overloads of one name") {
    // runtime/prometheus.hpp's prometheus_text is a template for any snapshot: the monitor's
    // stats must pick the monitor's overload, the cascade's the runtime's.
    World w;
    cascade::Cascade c{cascade::tier("mini", mini_model(w), confident, 0.8), cascade::tier("big", big_model(w))};
    cascade::MonitorOptions o;
    o.label_rate = 0.0;
    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w), o);
    monitor.observe(id_of(0), Query{0}, c.run(Query{0}));
    const std::string page = cascade::prometheus_text(c.stats(), "qa_cascade", {{"env", "prod"}}) +
                             cascade::prometheus_text(monitor.stats(), "qa_monitor", {{"env", "prod"}});
    CHECK_THAT(page, Catch::Matchers::ContainsSubstring("qa_monitor_tier_trusted{env=\"prod\",tier=\"mini\"} 1\n"));
    CHECK_THAT(page, Catch::Matchers::ContainsSubstring("qa_monitor_queries_total{env=\"prod\"} 1\n"));
    CHECK_THAT(page, Catch::Matchers::ContainsSubstring("qa_cascade_"));
}

TEST_CASE("a suspect tier's answers are labelled at the suspect rate until the evidence clears") {
    // label_rate 0: only suspect labelling samples. The reference is always right, so a wrong
    // answer scores 0.95 and a right one -0.05.
    auto run = [](std::optional<double> suspect_label_rate) {
        cascade::MonitorOptions o;
        o.label_rate = 0.0;
        o.suspect_label_rate = suspect_label_rate;
        cascade::QualityMonitor<Query, Answer> monitor(
            {"mini", "big"}, [](const Query&, const Answer&, std::size_t) { return cascade::MonitorLabel{1.0, 1.0, 0.0}; },
            o);
        cascade::Cascade c{cascade::tier("mini", [](const Query&) { return Answer{0, true}; }, confident, 0.8),
                           cascade::tier("big", [](const Query&) { return Answer{1, true}; })};
        int next = 0;
        auto observe = [&] {
            const Query q{next++};
            const bool sampled = monitor.observe(id_of(q.id), q, c.run(q));
            monitor.drain();  // counted before the next query, so the state is deterministic
            return sampled;
        };
        std::vector<bool> sampled;
        // One wrong answer leaves the detector just below the default level (1.2494 < 1.25).
        monitor.feedback("review-1", 0, 0.0, 1.0);
        CHECK_FALSE(monitor.stats().tiers[0].suspect);
        sampled.push_back(observe());
        // A second makes the tier a suspect; each right answer labelled then lowers the evidence.
        monitor.feedback("review-2", 0, 0.0, 1.0);
        const bool suspect = monitor.stats().tiers[0].suspect;
        for (int i = 0; i < 200; ++i) sampled.push_back(observe());
        CHECK_FALSE(monitor.stats().tiers[0].suspect);
        CHECK(monitor.stats().tiers[0].trusted);
        return std::make_pair(suspect, sampled);
    };

    const auto [suspect, sampled] = run(1.0);
    CHECK(suspect);
    CHECK_FALSE(sampled[0]);
    // Every answer while the tier was a suspect, then none: the labels are consecutive.
    const auto first_unsampled = std::find(sampled.begin() + 1, sampled.end(), false);
    const auto labelled = first_unsampled - (sampled.begin() + 1);
    CHECK(labelled >= 3);
    CHECK(labelled < 100);
    CHECK(std::find(first_unsampled, sampled.end(), true) == sampled.end());

    // Without a suspect rate the same evidence changes nothing, and the tier is never a suspect.
    const auto [never, none] = run(std::nullopt);
    CHECK_FALSE(never);
    CHECK(std::find(none.begin(), none.end(), true) == none.end());
}

TEST_CASE("acting on suspicion holds a suspect tier's answers back until the evidence clears") {
    cascade::MonitorOptions o;
    o.label_rate = 0.0;
    o.suspect_label_rate = 1.0;
    o.act_on_alarm = true;
    o.act_on_suspicion = true;
    cascade::QualityMonitor<Query, Answer> monitor(
        {"mini", "big"}, [](const Query&, const Answer&, std::size_t) { return cascade::MonitorLabel{1.0, 1.0, 0.0}; }, o);
    cascade::Cascade c{cascade::tier("mini", [](const Query&) { return Answer{0, true}; }, monitor.guard(0, confident, 0.8),
                       0.8),
                       cascade::tier("big", [](const Query&) { return Answer{1, true}; })};
    auto answered_by = [&](int id) {
        const auto r = c.run(Query{id});
        monitor.drain();  // the held-back answer's label counted before the next query
        return r.tier();
    };
    CHECK(answered_by(0) == "mini");
    // Two wrong answers make the tier a suspect: its answers are held back (the query escalates)
    // and, labelled at the suspect rate, each right one lowers the evidence until it clears.
    monitor.feedback("review-1", 0, 0.0, 1.0);
    monitor.feedback("review-2", 0, 0.0, 1.0);
    REQUIRE(monitor.stats().tiers[0].suspect);
    CHECK_FALSE(monitor.accepts(0));
    CHECK(monitor.stats().tiers[0].trusted);  // a suspect, not distrusted: no alarm
    const auto held = c.run(Query{1});
    CHECK(held.tier() == "big");
    CHECK_THAT(held.trace()[0].note, Catch::Matchers::ContainsSubstring("held back: the quality monitor suspects this tier"));
    monitor.drain();
    int escalated = 1;
    while (!monitor.accepts(0) && escalated < 200) escalated += answered_by(1 + escalated) == "big" ? 1 : 0;
    CHECK(escalated >= 2);
    CHECK(escalated < 200);
    CHECK_FALSE(monitor.stats().tiers[0].suspect);
    CHECK(monitor.stats().tiers[0].alarms == 0);
    CHECK(answered_by(500) == "mini");

    // Without act_on_suspicion the same suspect keeps answering (it is only labelled more).
    o.act_on_suspicion = false;
    cascade::QualityMonitor<Query, Answer> labelling_only(
        {"mini", "big"}, [](const Query&, const Answer&, std::size_t) { return cascade::MonitorLabel{1.0, 1.0, 0.0}; }, o);
    labelling_only.feedback("review-1", 0, 0.0, 1.0);
    labelling_only.feedback("review-2", 0, 0.0, 1.0);
    CHECK(labelling_only.stats().tiers[0].suspect);
    CHECK(labelling_only.accepts(0));
}

TEST_CASE("invalid options and tiers throw std::invalid_argument naming the field") {
    World w;
    auto make = [&](cascade::MonitorOptions o, std::vector<std::string> tiers = {"mini", "big"}) {
        cascade::QualityMonitor<Query, Answer> m(std::move(tiers), grader(w), std::move(o));
    };
    auto with = [](auto set) {
        cascade::MonitorOptions o;
        set(o);
        return o;
    };
    const double nan = std::nan("");
    const double inf = std::numeric_limits<double>::infinity();
    using Catch::Matchers::ContainsSubstring;
    CHECK_THROWS_AS(make(with([](auto& o) { o.target = 0.0; })), std::invalid_argument);
    CHECK_THROWS_WITH(make(with([](auto& o) { o.target = 0.0; })), ContainsSubstring("target"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.target = 1.5; })), ContainsSubstring("target"));
    CHECK_THROWS_WITH(make(with([&](auto& o) { o.target = nan; })), ContainsSubstring("target"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.alpha = 0.0; })), ContainsSubstring("alpha"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.alpha = 1.0; })), ContainsSubstring("alpha"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.label_rate = -0.1; })), ContainsSubstring("label_rate"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.label_rate = 1.1; })), ContainsSubstring("label_rate"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.label_budget = -1.0; })), ContainsSubstring("label_budget"));
    CHECK_THROWS_WITH(make(with([&](auto& o) { o.label_budget = inf; })), ContainsSubstring("label_budget"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.queue_capacity = 0; })), ContainsSubstring("queue_capacity"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.suspect_label_rate = 1.5; })), ContainsSubstring("suspect_label_rate"));
    CHECK_THROWS_WITH(make(with([&](auto& o) { o.suspect_label_rate = nan; })), ContainsSubstring("suspect_label_rate"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.suspect_label_rate = 0.0; })),
                      ContainsSubstring("suspect_label_rate must be in (0, 1] and at least label_rate"));
    CHECK_THROWS_WITH(make(with([](auto& o) {
                          o.label_rate = 0.2;
                          o.suspect_label_rate = 0.1;
                      })),
                      ContainsSubstring("at least label_rate (0.2)"));
    CHECK_THROWS_WITH(make(with([](auto& o) { o.suspect_evidence = 1.0; })), ContainsSubstring("suspect_evidence"));
    CHECK_THROWS_WITH(make(with([](auto& o) {
                          o.suspect_label_rate = 1.0;
                          o.act_on_suspicion = true;
                      })),
                      ContainsSubstring("act_on_suspicion needs act_on_alarm"));
    CHECK_THROWS_WITH(make(with([&](auto& o) { o.suspect_evidence = inf; })), ContainsSubstring("suspect_evidence"));
    CHECK_THROWS_WITH(make({}, {"mini"}), ContainsSubstring("tiers"));
    CHECK_THROWS_WITH(make({}, {"mini", "mini"}), ContainsSubstring("twice"));
    CHECK_THROWS_WITH(make({}, {"mini", ""}), ContainsSubstring("empty"));
    CHECK_NOTHROW(make(with([](auto& o) {
        o.target = 1.0;
        o.label_rate = 0.0;
        o.label_budget = 0.0;
    })));

    cascade::QualityMonitor<Query, Answer> monitor({"mini", "big"}, grader(w));
    CHECK_THROWS_WITH(monitor.guard(0, confident, 1.5), ContainsSubstring("threshold"));
    CHECK_THROWS_WITH(monitor.guard(1, confident, 0.5), ContainsSubstring("reference"));
    cascade::Cascade three{cascade::tier("a", mini_model(w), confident, 0.8), cascade::tier("b", mini_model(w), confident, 0.8),
                           cascade::tier("c", big_model(w))};
    CHECK_THROWS_WITH(monitor.observe("q", Query{0}, three.run(Query{0})), ContainsSubstring("tier names"));
}
