// cascade::redis::SharedBudget against a real redis-server: the fixture's, reached directly or
// through a loopback proxy of the test's that can swallow the server's answers or go away, and
// from other processes (this program run again, see run_child_role).
#include "catch.hpp"
#include "own_redis_server.hpp"
#include "redis_test_server.hpp"
#include "text_checks.hpp"
#include "threads.hpp"

#include <cascade/cascade.hpp>
#include <cascade/integration/redis/shared_budget.hpp>
#include <cascade/runtime/budget.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace redis = cascade::redis;
using cascade_test::fixture_server;
using cascade_test::kind_of;
using namespace std::chrono_literals;

namespace {

// A budget name of its own for each test and process (see cascade_test::unique_name), whose keys
// are gone.
std::string fresh_name(const std::string& what) {
    const std::string name = cascade_test::unique_name(what);
    redis::Client client(fixture_server());
    const std::string prefix = "cascade:{budget:" + name + "}";
    client.command({"DEL", prefix + ":state", prefix + ":leases", prefix + ":reclaimed", prefix + ":settled"});
    return name;
}

// The state hash's field as the server holds it: exact nano-dollars, no double in between.
long long field(redis::Client& client, const redis::SharedBudget& budget, const char* name) {
    const redis::Reply reply = client.command({"HGET", budget.state_key(), name});
    return reply.is_nil() ? 0 : reply.integer();
}

// Polls `ready` until it holds or `limit` passes: for what the server does on its own clock.
template <class Ready>
bool eventually(Ready ready, std::chrono::milliseconds limit = 15s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (ready()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return ready();
}

// Stands between a Client and the fixture's server: forwards both ways, or forwards the commands
// and drops the answers (what a client sees when replies are lost), or forwards the commands and
// cuts the connection when the answer comes (a reset after the command went out), or is down (its
// port refuses connections, and the connections it had are cut).
class Proxy {
public:
    enum class Mode { forward, swallow_answers, cut_answers, down };

    Proxy() : port_(cascade_test::free_loopback_port()) {
        listen_on_port();
        thread_ = std::thread([this] { loop(); });
    }
    Proxy(const Proxy&) = delete;
    Proxy& operator=(const Proxy&) = delete;
    ~Proxy() {
        stop_.store(true);
        thread_.join();
        close_all();
        if (listen_fd_ >= 0) ::close(listen_fd_);
    }

    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] redis::ServerOptions server(std::chrono::milliseconds command_timeout = 2000ms) const {
        redis::ServerOptions options;
        options.port = port_;
        options.command_timeout = command_timeout;
        options.reconnect_backoff = 20ms;
        return options;
    }
    // Returns once the proxy's loop has taken the new mode (within its next turn, 10 ms).
    void set(Mode mode) {
        mode_.store(mode);
        const std::uint64_t asked = asked_.fetch_add(1) + 1;
        while (applied_.load() < asked) std::this_thread::sleep_for(1ms);
    }

private:
    struct Pair {
        int client;
        int server;
    };

    void listen_on_port() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        const int yes = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(static_cast<std::uint16_t>(port_));
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listen_fd_, 64) != 0) {
            throw std::runtime_error(std::string("Proxy: cannot listen: ") + std::strerror(errno));
        }
    }

    static int connect_upstream() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(static_cast<std::uint16_t>(cascade_test::test_redis_port()));
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    static bool write_all(int fd, const char* data, std::size_t size) {
        while (size > 0) {
            const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
            if (n <= 0) return false;
            data += n;
            size -= static_cast<std::size_t>(n);
        }
        return true;
    }

    void close_all() {
        for (const Pair& p : pairs_) {
            ::close(p.client);
            ::close(p.server);
        }
        pairs_.clear();
    }

    void loop() {
        std::array<char, 65536> buffer{};
        while (!stop_.load()) {
            const Mode mode = mode_.load();
            const std::uint64_t asked = asked_.load();
            if (mode == Mode::down) {
                close_all();
                if (listen_fd_ >= 0) {
                    ::close(listen_fd_);
                    listen_fd_ = -1;
                }
            } else if (listen_fd_ < 0) {
                listen_on_port();
            }
            applied_.store(asked);
            std::vector<pollfd> fds;
            if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
            for (const Pair& p : pairs_) {
                fds.push_back({p.client, POLLIN, 0});
                fds.push_back({p.server, POLLIN, 0});
            }
            if (fds.empty()) {
                std::this_thread::sleep_for(10ms);
                continue;
            }
            if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
            std::size_t at = 0;
            if (listen_fd_ >= 0) {
                if ((fds[0].revents & POLLIN) != 0) {
                    const int client = ::accept(listen_fd_, nullptr, nullptr);
                    const int server = client >= 0 ? connect_upstream() : -1;
                    if (server >= 0) {
                        pairs_.push_back({client, server});
                    } else if (client >= 0) {
                        ::close(client);
                    }
                }
                at = 1;
            }
            std::vector<Pair> alive;
            const std::size_t polled = (fds.size() - at) / 2;
            for (std::size_t i = 0; i < polled; ++i) {
                const Pair p = pairs_[i];
                bool ok = true;
                if ((fds[at + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                    const ssize_t n = ::recv(p.client, buffer.data(), buffer.size(), 0);
                    ok = n > 0 && write_all(p.server, buffer.data(), static_cast<std::size_t>(n));
                }
                if (ok && (fds[at + 2 * i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                    const ssize_t n = ::recv(p.server, buffer.data(), buffer.size(), 0);
                    ok = n > 0 && mode != Mode::cut_answers &&
                         (mode == Mode::swallow_answers ||
                          write_all(p.client, buffer.data(), static_cast<std::size_t>(n)));
                }
                if (ok) {
                    alive.push_back(p);
                } else {
                    ::close(p.client);
                    ::close(p.server);
                }
            }
            for (std::size_t i = polled; i < pairs_.size(); ++i) alive.push_back(pairs_[i]);  // accepted this turn
            pairs_.swap(alive);
        }
    }

    int port_;
    int listen_fd_ = -1;
    std::vector<Pair> pairs_;
    std::atomic<Mode> mode_{Mode::forward};
    std::atomic<std::uint64_t> asked_{0};
    std::atomic<std::uint64_t> applied_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// The events a budget's hook heard, kept as text.
struct Heard {
    std::mutex mutex;
    std::vector<std::string> details;
    cascade::EventHook hook() {
        return [this](const cascade::Event& e) {
            if (e.kind != cascade::EventKind::shared_state_unavailable) return;
            std::lock_guard<std::mutex> lock(mutex);
            details.emplace_back(e.detail);
        };
    }
    std::vector<std::string> all() {
        std::lock_guard<std::mutex> lock(mutex);
        return details;
    }
};

std::string redis_error_message(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const redis::RedisError& e) {
        return e.what();
    }
    FAIL("expected a cascade::redis::RedisError");
    return {};
}

// ---- child processes: this program run again with one hidden test case (see below) ----

// Runs this program again as a child, running the hidden test case of `role`; what it writes to
// the file descriptor CASCADE_SB_FD comes back through `read_fd`.
struct Child {
    pid_t pid = -1;
    int read_fd = -1;
};

Child start_child(const std::string& role, const std::string& name, int extra = 0) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        ::setenv("CASCADE_SB_ROLE", role.c_str(), 1);
        ::setenv("CASCADE_SB_NAME", name.c_str(), 1);
        ::setenv("CASCADE_SB_FD", std::to_string(fds[1]).c_str(), 1);
        ::setenv("CASCADE_SB_EXTRA", std::to_string(extra).c_str(), 1);
        const char* argv[] = {"/proc/self/exe", "[shared_budget_child]", "--reporter", "compact", nullptr};
        ::execv("/proc/self/exe", const_cast<char* const*>(argv));
        std::_Exit(127);
    }
    ::close(fds[1]);
    return Child{pid, fds[0]};
}

std::string read_all(int fd) {
    std::string text;
    std::array<char, 4096> buffer{};
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return text;
}

std::string read_line(int fd) {
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
}

int exit_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

void write_text(int fd, const std::string& text) {
    const char* data = text.data();
    std::size_t size = text.size();
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n <= 0) return;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

constexpr double many_limit = 25.0;        // dollars: about half of the calls fit
constexpr double many_estimate = 0.001;    // dollars a call
constexpr int many_processes = 8;
constexpr int many_threads = 4;
constexpr int many_calls = 100000;         // in all
constexpr std::int64_t estimate_nano = 1000000;

}  // namespace

TEST_CASE("a shared budget grants reservations while they fit and settles them exactly") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("exact"), 1.0);
    auto a = budget.reserve(0.4);
    auto b = budget.reserve(0.4);
    REQUIRE(a);
    REQUIRE(b);
    CHECK_FALSE(budget.reserve(0.4));
    CHECK(budget.remaining() == Approx(0.2));
    auto c = budget.reserve(0.2);  // exactly what is left
    CHECK(c);
    CHECK(field(client, budget, "reserved") == 1000000000);

    budget.settle(std::move(*a), 0.125);
    CHECK_FALSE(a->active());
    budget.settle(std::move(*a), 0.5);  // settling twice does nothing
    b->release();
    REQUIRE(budget.flush(10s));
    CHECK(field(client, budget, "spent") == 125000000);
    CHECK(field(client, budget, "reserved") == 200000000);  // c is still held
    const auto s = budget.stats();
    CHECK(s.limit == 1.0);
    CHECK(s.spent == Approx(0.125));
    CHECK(s.reserved == Approx(0.2));
    CHECK(s.remaining() == Approx(0.675));
    CHECK(s.reservations == 3);
    CHECK(s.refusals == 1);
    CHECK(s.leases == 1);
    CHECK(s.settles_queued == 2);
    CHECK(s.settles_pending == 0);
    CHECK(s.overruns == 0);
}

TEST_CASE("a shared reservation let go without settling gives its amount back") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("let-go"), 1.0);
    {
        auto r = budget.reserve(0.75);
        REQUIRE(r);
        CHECK(budget.remaining() == Approx(0.25));
    }
    REQUIRE(budget.flush(10s));
    CHECK(field(client, budget, "reserved") == 0);
    CHECK(budget.stats().leases == 0);
    CHECK(budget.reserve(1.0));
}

TEST_CASE("a shared budget charges an overrun, a cost that is not a price as the estimate, and saturates") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("overrun"), 1.0);
    auto r = budget.reserve(0.25);
    REQUIRE(r);
    budget.settle(std::move(*r), 1.5);
    auto nan = budget.reserve(0.0);  // what is left: nothing, but nothing fits
    REQUIRE(budget.flush(10s));
    auto s = budget.stats();
    CHECK(s.spent == Approx(1.5));
    CHECK(s.overruns == 1);
    CHECK(s.overrun == Approx(1.25));
    CHECK(s.remaining() == 0.0);
    CHECK_FALSE(budget.reserve(0.01));
    REQUIRE(nan);
    budget.settle(std::move(*nan), std::numeric_limits<double>::quiet_NaN());

    redis::SharedBudget big(client, fresh_name("saturated"), 1.0);
    auto e = big.reserve(0.5);
    REQUIRE(e);
    big.settle(std::move(*e), std::numeric_limits<double>::infinity());  // charged the estimate
    auto huge = big.reserve(0.5);
    REQUIRE(huge);
    big.settle(std::move(*huge), 9.5e6);  // above 2^53 nano-dollars: the counter stops there
    REQUIRE(budget.flush(10s));
    REQUIRE(big.flush(10s));
    CHECK(budget.stats().cost_errors == 1);
    const auto t = big.stats();
    CHECK(t.cost_errors == 1);
    CHECK(t.saturated);
    CHECK(field(client, big, "spent") == static_cast<long long>(redis::SharedBudget::max_nano_dollars));
}

TEST_CASE("a budgeted model spends from a shared budget and refuses with BudgetExhausted") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("with-budget"), 0.25);
    int calls = 0;
    auto model = cascade::with_budget(
        [&](int x) {
            ++calls;
            return x;
        },
        budget, 0.1);  // every call costs its estimate
    CHECK(model(1) == 1);
    CHECK(model(2) == 2);
    try {
        (void)model(3);
        FAIL("the budget let a call through");
    } catch (const cascade::BudgetExhausted& e) {
        CHECK(e.estimate() == Approx(0.1));
        CHECK(e.remaining() == Approx(0.05));
    }
    CHECK(calls == 2);
    REQUIRE(budget.flush(10s));
    CHECK(field(client, budget, "spent") == 200000000);
    CHECK(field(client, budget, "reserved") == 0);

    // A call that throws is not charged; a cost function's price is.
    auto failing = cascade::with_budget([](int) -> int { throw std::runtime_error("500"); }, budget, 0.05);
    CHECK_THROWS_AS(failing(1), std::runtime_error);
    REQUIRE(budget.flush(10s));  // the release is queued as a settle is: until then it holds the estimate
    CHECK(field(client, budget, "reserved") == 0);
    auto priced = cascade::with_budget([](int x) { return x; }, budget, 0.05, [](int x) { return 0.001 * x; });
    CHECK(priced(3) == 3);
    REQUIRE(budget.flush(10s));
    CHECK(field(client, budget, "spent") == 203000000);
    CHECK(field(client, budget, "reserved") == 0);
}

TEST_CASE("a shared budget never waits past the call's deadline") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("deadline"), 1.0);
    auto model = cascade::with_budget([](int x) { return x; }, budget, 0.1);
    cascade::CallContext late;
    late.deadline = std::chrono::steady_clock::now() - 1ms;
    CHECK(kind_of([&] { (void)model(1, late); }) == redis::RedisErrorKind::timed_out);
    cascade::CallContext on_time;
    on_time.deadline = std::chrono::steady_clock::now() + 10s;
    CHECK(model(2, on_time) == 2);
}

TEST_CASE("8 threads never spend more than the shared budget", "[concurrency]") {
    redis::Client client(fixture_server());
    constexpr double limit = 2.0;
    constexpr double estimate = 0.001;
    redis::SharedBudget budget(client, fresh_name("threads"), limit);
    std::atomic<std::int64_t> charged_nano{0};
    auto model = cascade::with_budget(
        [](int x) { return static_cast<std::int64_t>((x * 7919) % 1000001); },  // nano-dollars, at most the estimate
        budget, estimate,
        [&](std::int64_t nano) {
            charged_nano.fetch_add(nano);
            return static_cast<double>(nano) * 1e-9;
        });
    std::atomic<bool> running{true};
    std::atomic<int> over{0};
    std::atomic<int> looks{0};
    std::thread watcher([&] {
        redis::Client own(fixture_server());
        while (running.load()) {
            const redis::Reply v = own.command({"HMGET", budget.state_key(), "limit", "spent", "reserved"});
            const long long spent = v[1].is_nil() ? 0 : v[1].integer();
            const long long reserved = v[2].is_nil() ? 0 : v[2].integer();
            if (spent > v[0].integer() || spent + reserved > v[0].integer()) over.fetch_add(1);
            looks.fetch_add(1);
        }
    });
    constexpr int threads = 8;
    constexpr int per_thread = 600;  // 4800 calls; about 4000 fit
    std::atomic<int> refused{0};
    cascade_test::on_threads(threads, per_thread, [&](int t, int i) {
        try {
            (void)model(t * per_thread + i);
        } catch (const cascade::BudgetExhausted&) {
            refused.fetch_add(1);
        }
    });
    REQUIRE(budget.flush(30s));
    running.store(false);
    watcher.join();
    const auto s = budget.stats();
    CHECK(over.load() == 0);
    CHECK(looks.load() > 0);
    CHECK(refused.load() > 0);
    CHECK(field(client, budget, "spent") <= 2000000000);
    CHECK(field(client, budget, "spent") == charged_nano.load());
    CHECK(s.reserved == 0.0);
    CHECK(s.leases == 0);
    CHECK(s.reservations + s.refusals == threads * per_thread);
    CHECK(s.refusals == static_cast<std::uint64_t>(refused.load()));
}

TEST_CASE("a settle retried after its answer was lost is charged once", "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    redis::SharedBudget budget(client, fresh_name("lost-answer"), 1.0);
    auto r = budget.reserve(0.5);
    REQUIRE(r);
    proxy.set(Proxy::Mode::swallow_answers);
    budget.settle(std::move(*r), 0.25);
    // The server takes the settle; its answers do not come back, and the budget sends it again.
    REQUIRE(eventually([&] { return field(direct, budget, "spent") != 0; }));
    CHECK_FALSE(budget.flush(300ms));
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(field(direct, budget, "spent") == 250000000);
    CHECK(field(direct, budget, "reserved") == 0);
    CHECK(s.settle_retries >= 1);
    CHECK(s.duplicate_settles >= 1);
    CHECK(s.late_settles == 0);
}

TEST_CASE("a batch of settles and a release sent again after its answer was lost is charged once",
          "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    redis::SharedBudgetOptions options;
    options.settle_delay = 20ms;  // the four, queued within microseconds, go in one batch
    redis::SharedBudget budget(client, fresh_name("lost-batch"), 1.0, options);
    auto a = budget.reserve(0.25);
    auto b = budget.reserve(0.25);
    auto c = budget.reserve(0.25);
    auto d = budget.reserve(0.125);
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    REQUIRE(d);
    proxy.set(Proxy::Mode::swallow_answers);
    budget.settle(std::move(*a), 0.125);
    budget.settle(std::move(*b), 0.0625);
    budget.settle(std::move(*c), 0.5);  // an overrun, counted once
    d->release();
    REQUIRE(eventually([&] { return field(direct, budget, "spent") != 0; }));
    CHECK_FALSE(budget.flush(300ms));  // sent again, answers lost
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(field(direct, budget, "spent") == 687500000);
    CHECK(field(direct, budget, "reserved") == 0);
    CHECK(field(direct, budget, "overruns") == 1);
    CHECK(s.unknown_settles == 0);
    CHECK(s.unmatched_releases == 0);
    // The batch came back whole, its three settles known for duplicates and its release too
    // (not taken for the release of a reservation never granted).
    CHECK(s.duplicate_settles >= 3);
}

TEST_CASE("a reserve whose answer was lost is given back once Redis answers", "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    redis::SharedBudget budget(client, fresh_name("lost-reserve"), 1.0);
    proxy.set(Proxy::Mode::swallow_answers);
    CHECK(kind_of([&] { (void)budget.reserve(0.5); }) == redis::RedisErrorKind::timed_out);
    CHECK(field(direct, budget, "reservations") == 1);  // the server granted it all the same
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    CHECK(field(direct, budget, "reserved") == 0);
    CHECK(budget.stats().leases == 0);
}

TEST_CASE("a reserve cut off after it was sent is given back once Redis answers, and one never sent is no duplicate",
          "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server());
    redis::SharedBudget budget(client, fresh_name("cut-reserve"), 1.0);
    proxy.set(Proxy::Mode::cut_answers);
    CHECK(kind_of([&] { (void)budget.reserve(0.5); }) == redis::RedisErrorKind::unreachable);
    CHECK(field(direct, budget, "reservations") == 1);  // the server granted it all the same
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    CHECK(field(direct, budget, "reserved") == 0);  // not held until its lease (30 s) runs out
    auto s = budget.stats();
    CHECK(s.leases == 0);
    CHECK(s.duplicate_settles == 0);
    const std::uint64_t unmatched = s.unmatched_releases;  // 1 when the release itself was cut off and sent again

    // A reserve that never reached the server: its release finds nothing, and charges nothing.
    proxy.set(Proxy::Mode::down);
    CHECK(kind_of([&] { (void)budget.reserve(0.25); }) == redis::RedisErrorKind::unreachable);
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    s = budget.stats();
    CHECK(s.unmatched_releases == unmatched + 1);
    CHECK(s.duplicate_settles == 0);
    CHECK(s.reservations == 1);
    CHECK(s.spent == 0.0);
    CHECK(s.reserved == 0.0);
    CHECK(s.remaining() == 1.0);
}

TEST_CASE("a settle refused by the server (read-only, no permission) is kept, reported once an outage, and charged later",
          "[concurrency]") {
    cascade_test::OwnRedisServer server;  // of its own: the fixture's server is shared by tests running now
    redis::Client admin(server.options());
    redis::Client client(server.options());
    Heard heard;
    redis::SharedBudgetOptions options;
    options.on_event = heard.hook();
    options.flush_on_destroy = 0ms;
    redis::SharedBudget budget(client, "refused", 1.0, options);
    struct Outage {
        std::vector<std::string_view> start, end;
        const char* error;
    };
    const Outage outages[] = {
        // A master demoted to a replica, as in a failover: read-only. Its master does not exist,
        // so it keeps its data.
        {{"REPLICAOF", "127.0.0.1", "1"}, {"REPLICAOF", "NO", "ONE"}, "READONLY"},
        // An access rule that refuses the budget's scripts for a while: an error no retry seems
        // to fix, whose settles are kept all the same.
        {{"ACL", "SETUSER", "default", "-evalsha", "-eval"}, {"ACL", "SETUSER", "default", "+evalsha", "+eval"}, "NOPERM"},
    };
    long long spent = 0;
    std::size_t outage_count = 0;
    for (const Outage& outage : outages) {
        INFO(outage.error);
        ++outage_count;
        auto r = budget.reserve(0.25);
        REQUIRE(r);
        admin.command(outage.start);
        budget.settle(std::move(*r), 0.125);
        CHECK_FALSE(budget.flush(300ms));
        auto s = budget.local_stats();
        CHECK(s.undelivered_settles == 0);  // not dropped: the money was spent
        CHECK(s.settles_pending == 1);
        CHECK(s.settle_retries >= 1);
        CHECK(field(admin, budget, "reserved") == 250000000);  // still held, not handed out again
        admin.command(outage.end);
        REQUIRE(budget.flush(10s));
        spent += 125000000;
        CHECK(field(admin, budget, "spent") == spent);
        CHECK(field(admin, budget, "reserved") == 0);
        const auto events = heard.all();
        REQUIRE(events.size() == outage_count);  // once an outage, however many tries
        CHECK(contains(events.back(), "kept the settles of budget \"refused\" to try again: "));
        CHECK(contains(events.back(), outage.error));
    }
    const auto s = budget.stats();
    CHECK(s.undelivered_settles == 0);
    CHECK(s.duplicate_settles == 0);
    CHECK(s.unknown_settles == 0);
}

TEST_CASE("a settle whose grant the server lost is charged, and counted", "[concurrency]") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("lost-grant"), 1.0);
    auto lost = budget.reserve(0.5);
    auto kept = budget.reserve(0.25);
    REQUIRE(lost);
    REQUIRE(kept);
    // The server forgets the first grant, as one restarted from an append-only file written once a
    // second, or a replica promoted before the grant reached it: no lease, not reserved.
    const redis::Reply leases = client.command({"ZRANGE", budget.leases_key(), "0", "0"});
    REQUIRE(leases.size() == 1);
    client.command({"ZREM", budget.leases_key(), leases[0].string()});
    client.command({"HSET", budget.state_key(), "reserved", "250000000"});
    budget.settle(std::move(*lost), 0.375);
    budget.settle(std::move(*kept), 0.125);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(field(client, budget, "spent") == 500000000);  // the call's money was spent: charged
    CHECK(s.unknown_settles == 1);
    CHECK(s.duplicate_settles == 0);
    CHECK(s.late_settles == 0);
    CHECK(s.reserved == 0.0);
    // One id for each batch delivered, however many settles it held.
    const auto batches = client.command({"ZCARD", budget.settled_key()}).integer();
    CHECK(batches >= 1);
    CHECK(batches <= 2);
}

TEST_CASE("a settle sent again after a lease ran out and its answer was lost is charged once", "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    redis::SharedBudgetOptions options;
    options.lease = 200ms;
    const std::string name = fresh_name("late-retry");
    redis::SharedBudget cut_off(client, name, 1.0, options);
    redis::SharedBudget other(direct, name, 1.0, options);
    auto r = cut_off.reserve(0.75);
    REQUIRE(r);
    proxy.set(Proxy::Mode::down);
    REQUIRE(eventually([&] { return other.stats().leases_reclaimed == 1; }));
    proxy.set(Proxy::Mode::swallow_answers);
    cut_off.settle(std::move(*r), 0.5);
    REQUIRE(eventually([&] { return field(direct, other, "spent") != 0; }));
    CHECK_FALSE(cut_off.flush(300ms));  // sent again, answers lost
    proxy.set(Proxy::Mode::forward);
    REQUIRE(cut_off.flush(10s));
    const auto s = cut_off.stats();
    CHECK(field(direct, other, "spent") == 500000000);
    CHECK(s.late_settles == 1);
    CHECK(s.unknown_settles == 0);
    CHECK(s.duplicate_settles >= 1);
}

TEST_CASE("the ids of delivered batches of settles go once they are older than settled_retention") {
    redis::Client client(fixture_server());
    redis::SharedBudgetOptions options;
    options.lease = 100ms;
    options.reclaimed_retention = 100ms;
    options.settled_retention = 100ms;
    redis::SharedBudget budget(client, fresh_name("settled-retention"), 1000.0, options);
    auto first = budget.reserve(0.01);
    REQUIRE(first);
    budget.settle(std::move(*first), 0.01);
    REQUIRE(budget.flush(10s));
    const redis::Reply settled = client.command({"ZRANGE", budget.settled_key(), "0", "-1"});
    REQUIRE(settled.size() == 1);
    const std::string first_id(settled[0].string());
    // Later settles take the old ids away, as many as they add and more.
    REQUIRE(eventually([&] {
        auto r = budget.reserve(0.01);
        if (r) budget.settle(std::move(*r), 0.01);
        (void)budget.flush(10s);
        return client.command({"ZSCORE", budget.settled_key(), first_id}).is_nil();
    }));
    CHECK(client.command({"ZCARD", budget.settled_key()}).integer() >= 1);
    CHECK(budget.stats().unknown_settles == 0);
}

TEST_CASE("an expired lease gives its money back, and a settle that comes late is still charged", "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    const std::string name = fresh_name("lease");
    redis::SharedBudgetOptions options;
    options.lease = 200ms;
    redis::SharedBudget cut_off(client, name, 1.0, options);
    redis::SharedBudget other(direct, name, 1.0, options);
    auto r = cut_off.reserve(0.75);
    REQUIRE(r);
    CHECK_FALSE(other.reserve(0.5));
    proxy.set(Proxy::Mode::down);  // no renewal reaches the server now
    REQUIRE(eventually([&] { return other.stats().leases_reclaimed == 1; }));
    auto s = other.stats();
    CHECK(s.remaining() == 1.0);
    CHECK(s.leases == 0);
    CHECK(field(direct, other, "reserved") == 0);
    proxy.set(Proxy::Mode::forward);
    cut_off.settle(std::move(*r), 0.5);
    REQUIRE(cut_off.flush(10s));
    s = other.stats();
    CHECK(s.spent == Approx(0.5));
    CHECK(s.late_settles == 1);
    CHECK(s.reserved == 0.0);
}

TEST_CASE("a reservation held longer than its lease keeps its money while its process lives", "[concurrency]") {
    redis::Client client(fixture_server());
    redis::SharedBudgetOptions options;
    options.lease = 600ms;  // renewed every 200 ms
    const std::string name = fresh_name("renewed");
    redis::SharedBudget budget(client, name, 1.0, options);
    auto r = budget.reserve(0.75);
    REQUIRE(r);
    std::this_thread::sleep_for(1500ms);
    redis::SharedBudget other(client, name, 1.0, options);
    CHECK_FALSE(other.reserve(0.5));  // scans for expired leases first: there is none
    const auto s = other.stats();
    CHECK(s.leases_reclaimed == 0);
    CHECK(s.reserved == Approx(0.75));
    budget.settle(std::move(*r), 0.75);
    REQUIRE(budget.flush(10s));
    CHECK(other.stats().late_settles == 0);
}

TEST_CASE("fail_closed refuses with the RedisError when Redis cannot be reached, and reports it", "[concurrency]") {
    CHECK(kind_of([] {
              redis::ServerOptions nowhere;
              nowhere.port = cascade_test::free_loopback_port();
              redis::Client client(nowhere);
              redis::SharedBudget budget(client, "nowhere", 1.0);
          }) == redis::RedisErrorKind::unreachable);

    Proxy proxy;
    redis::Client client(proxy.server(100ms));
    Heard heard;
    redis::SharedBudgetOptions options;
    options.on_event = heard.hook();
    redis::SharedBudget budget(client, fresh_name("fail-closed"), 1.0, options);
    std::vector<std::string> query_events;
    cascade::CascadeOptions cascade_options{cascade::NoPassPolicy::no_answer};
    cascade_options.on_event = [&](const cascade::Event& e) {
        if (e.kind == cascade::EventKind::shared_state_unavailable) query_events.emplace_back(std::string(e.source) + ": " + std::string(e.detail));
    };
    int calls = 0;
    cascade::Cascade c{cascade_options,
                       cascade::tier("big", cascade::with_budget(
                                                [&](int x) {
                                                    ++calls;
                                                    return x * 10;
                                                },
                                                budget, 0.1)),
                       cascade::tier("local", [](int x) { return x; })};
    CHECK(c.run(1).value() == 10);
    proxy.set(Proxy::Mode::down);
    const auto r = c.run(2);
    CHECK(r.value() == 2);
    CHECK(r.tier() == "local");
    CHECK(calls == 1);
    REQUIRE(query_events.size() == 1);
    CHECK(contains(query_events[0], "big: refused (fail closed): cascade::redis:"));
    // The budget's hook hears the refusal, and (once) that the release queued for the refused
    // reserve waits for Redis.
    const auto events = heard.all();
    CHECK(std::count_if(events.begin(), events.end(), [](const std::string& e) { return contains(e, "refused (fail closed)"); }) == 1);
    CHECK(std::count_if(events.begin(), events.end(), [](const std::string& e) { return contains(e, "kept the settles"); }) <= 1);
    CHECK(kind_of([&] { (void)budget.reserve(0.1); }) == redis::RedisErrorKind::unreachable);
    proxy.set(Proxy::Mode::forward);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(s.unavailable == 2);
    CHECK(s.local_fallbacks == 0);
    CHECK(s.spent == Approx(0.1));
}

TEST_CASE("use_local reserves from the local twin when Redis cannot be reached, and reports it", "[concurrency]") {
    Proxy proxy;
    redis::Client client(proxy.server(100ms));
    cascade::Budget local{0.3};
    Heard heard;
    redis::SharedBudgetOptions options;
    options.when_unavailable = redis::WhenUnavailable::use_local;
    options.local = &local;
    options.on_event = heard.hook();
    redis::SharedBudget budget(client, fresh_name("use-local"), 1.0, options);
    auto shared = budget.reserve(0.1);
    REQUIRE(shared);
    CHECK_FALSE(shared->local());
    proxy.set(Proxy::Mode::down);
    auto a = budget.reserve(0.2);
    REQUIRE(a);
    CHECK(a->local());
    CHECK(local.remaining() == Approx(0.1));
    CHECK_FALSE(budget.reserve(0.2));  // the twin's own limit holds
    budget.settle(std::move(*a), 0.05);
    CHECK(local.spent() == Approx(0.05));
    const auto events = heard.all();
    REQUIRE(events.size() == 2);
    CHECK(contains(events[0], "used the local twin: cascade::redis:"));
    proxy.set(Proxy::Mode::forward);
    budget.settle(std::move(*shared), 0.1);
    REQUIRE(budget.flush(10s));
    const auto s = budget.stats();
    CHECK(s.spent == Approx(0.1));  // the twin's spend stays in the twin
    CHECK(s.local_fallbacks == 2);
    CHECK(s.unavailable == 2);
    CHECK(contains(invalid_argument_message([&] {
                       redis::SharedBudgetOptions no_twin;
                       no_twin.when_unavailable = redis::WhenUnavailable::use_local;
                       redis::SharedBudget b(client, "no-twin", 1.0, no_twin);
                   }),
                   "local must point to a cascade::Budget when when_unavailable is use_local"));
}

TEST_CASE("settles wait while Redis is away, are delivered when it is back, and are counted when dropped", "[concurrency]") {
    Proxy proxy;
    redis::Client direct(fixture_server());
    redis::Client client(proxy.server(100ms));
    Heard heard;
    redis::SharedBudgetOptions options;
    options.on_event = heard.hook();
    options.flush_on_destroy = 200ms;
    const std::string name = fresh_name("queued");
    {
        redis::SharedBudget budget(client, name, 1.0, options);
        auto a = budget.reserve(0.1);
        auto b = budget.reserve(0.1);
        auto c = budget.reserve(0.1);
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(c);
        proxy.set(Proxy::Mode::down);
        budget.settle(std::move(*a), 0.05);
        CHECK_FALSE(budget.flush(300ms));
        CHECK(budget.local_stats().settles_pending == 1);
        CHECK(field(direct, budget, "spent") == 0);
        proxy.set(Proxy::Mode::forward);
        REQUIRE(budget.flush(10s));
        CHECK(field(direct, budget, "spent") == 50000000);
        CHECK(budget.local_stats().settle_retries >= 1);

        proxy.set(Proxy::Mode::down);
        budget.settle(std::move(*b), 0.1);
        CHECK(budget.shutdown(200ms) == 1);  // what it could not deliver
        budget.settle(std::move(*c), 0.1);   // after shutdown: counted at once
        const auto s = budget.local_stats();
        CHECK(s.undelivered_settles == 2);
        CHECK(s.settles_pending == 0);
        CHECK_THROWS_AS((void)budget.reserve(0.1), std::logic_error);
    }
    const auto events = heard.all();
    REQUIRE(events.size() == 4);  // each outage once, however many tries; then what was dropped
    CHECK(contains(events[0], "kept the settles of budget \"" + name + "\" to try again: cascade::redis:"));
    CHECK(contains(events[1], "kept the settles of budget \"" + name + "\" to try again"));
    CHECK(contains(events[2], "dropped 1 settle(s) of budget \"" + name + "\": Redis did not take them"));
    CHECK(contains(events[3], "after the budget was shut down"));
    CHECK(direct.command({"HGET", "cascade:{budget:" + name + "}:state", "spent"}).integer() == 50000000);
}

TEST_CASE("state missing on the server is an error naming its key, never a fresh budget") {
    redis::Client client(fixture_server());
    redis::SharedBudget budget(client, fresh_name("lost"), 1.0);
    auto r = budget.reserve(0.5);
    REQUIRE(r);
    client.command({"DEL", budget.state_key()});  // as a restart without persistence leaves it
    const std::string message = redis_error_message([&] { (void)budget.reserve(0.1); });
    CHECK(contains(message, budget.state_key() + " at 127.0.0.1:"));
    CHECK(contains(message, "is missing"));
    CHECK(kind_of([&] { (void)budget.reserve(0.1); }) == redis::RedisErrorKind::lost_state);
    CHECK(kind_of([&] { (void)budget.stats(); }) == redis::RedisErrorKind::lost_state);
    CHECK(client.command({"EXISTS", budget.state_key()}).integer() == 0);  // nothing was written
    budget.settle(std::move(*r), 0.25);
    REQUIRE(budget.flush(10s));
    CHECK(budget.local_stats().undelivered_settles == 1);
}

TEST_CASE("a key of another type is an error naming the key") {
    redis::Client client(fixture_server());
    const std::string name = fresh_name("wrong-type");
    const std::string leases = "cascade:{budget:" + name + "}:leases";
    client.command({"SET", leases, "not a sorted set"});
    std::string message = redis_error_message([&] { redis::SharedBudget b(client, name, 1.0); });
    CHECK(contains(message, "key " + leases + " at 127.0.0.1:"));
    CHECK(contains(message, "holds a string"));
    CHECK(kind_of([&] { redis::SharedBudget b(client, name, 1.0); }) == redis::RedisErrorKind::wrong_type);
    client.command({"DEL", leases});

    redis::SharedBudget budget(client, name, 1.0);
    client.command({"DEL", budget.state_key()});
    client.command({"LPUSH", budget.state_key(), "a list"});
    message = redis_error_message([&] { (void)budget.reserve(0.1); });
    CHECK(contains(message, "key " + budget.state_key()));
    CHECK(contains(message, "holds a list"));
    CHECK(kind_of([&] { (void)budget.stats(); }) == redis::RedisErrorKind::wrong_type);
    client.command({"DEL", budget.state_key()});
}

TEST_CASE("a limit other than the server's is refused naming both, unless told to replace it") {
    redis::Client client(fixture_server());
    const std::string name = fresh_name("mismatch");
    redis::SharedBudget first(client, name, 1.0);
    const std::string message = invalid_argument_message([&] { redis::SharedBudget b(client, name, 2.5); });
    CHECK(contains(message, "holds a limit of $1 for this budget, not the $2.5 given"));
    CHECK(contains(message, "replace_limit"));
    redis::SharedBudget same(client, name, 1.0);  // the same limit: fine
    redis::SharedBudgetOptions replace;
    replace.replace_limit = true;
    redis::SharedBudget replaced(client, name, 2.5, replace);
    CHECK(field(client, replaced, "limit") == 2500000000);
    CHECK(replaced.stats().limit == 2.5);
    CHECK(first.reserve(2.0));  // every replica spends from the new limit
    CHECK(first.stats().limit == 2.5);
    CHECK(first.limit() == 2.5);
}

TEST_CASE("a shared budget refuses arguments that cannot work, naming them") {
    redis::Client client(fixture_server());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, fresh_name("bad"), nan); }),
                   "cascade::redis::SharedBudget: the budget must be a finite number of dollars >= 0, got nan"));
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, fresh_name("bad"), -1.0); }), "got -1"));
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, fresh_name("bad"), 9.1e6); }),
                   "the budget must be at most $9007199.254740991 (2^53 - 1 nano-dollars"));
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "a{b}", 1.0); }), "brace"));
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "", 1.0); }), "is empty"));
    redis::SharedBudgetOptions short_lease;
    short_lease.lease = 5ms;
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "x", 1.0, short_lease); }),
                   "SharedBudgetOptions: lease must be at least 10 ms"));
    redis::SharedBudgetOptions no_batch;
    no_batch.settle_batch = 0;
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "x", 1.0, no_batch); }), "settle_batch"));
    redis::SharedBudgetOptions short_retention;
    short_retention.reclaimed_retention = 1s;
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "x", 1.0, short_retention); }),
                   "reclaimed_retention must be at least the lease"));
    short_retention = {};
    short_retention.settled_retention = 1s;
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "x", 1.0, short_retention); }),
                   "settled_retention must be at least the lease (30000 ms), got 1000 ms"));
    // A settle waiting for its batch longer than a renewal's margin: its lease, no longer renewed,
    // could run out first.
    redis::SharedBudgetOptions slow_settles;
    slow_settles.lease = 30ms;
    slow_settles.settle_delay = 1s;
    CHECK(contains(invalid_argument_message([&] { redis::SharedBudget b(client, "x", 1.0, slow_settles); }),
                   "settle_delay (1000000 us) must be at most a tenth of the lease (30 ms)"));
    slow_settles.settle_delay = 3001us;
    CHECK_THROWS_AS(redis::SharedBudget(client, "x", 1.0, slow_settles), std::invalid_argument);
    slow_settles.settle_delay = 3ms;  // a tenth: fine
    redis::SharedBudget quick(client, fresh_name("settle-delay"), 1.0, slow_settles);
    // Left to its default, the delay is 5 ms, or a tenth of a lease shorter than 50 ms.
    redis::SharedBudgetOptions short_lease_default;
    short_lease_default.lease = 20ms;
    redis::SharedBudget short_lived(client, fresh_name("short-lease"), 1.0, short_lease_default);
    auto held = short_lived.reserve(0.5);
    REQUIRE(held);
    short_lived.settle(std::move(*held), 0.25);
    CHECK(short_lived.flush(10s));
    CHECK(short_lived.stats().spent == Approx(0.25));

    redis::SharedBudget budget(client, fresh_name("bad-estimate"), 9.0e6);  // below 2^53 nano-dollars: fine
    CHECK(contains(invalid_argument_message([&] { (void)budget.reserve(nan); }),
                   "SharedBudget::reserve: the estimate must be a finite number"));
    CHECK(contains(invalid_argument_message([&] { (void)budget.reserve(-0.5); }), "got -0.5"));
    CHECK_FALSE(budget.reserve(1e10));  // more than any shared budget holds: refused, not an error
    CHECK(contains(invalid_argument_message([&] { (void)cascade::with_budget([](int x) { return x; }, budget, 0.0); }),
                   "estimate_per_call must be a finite number of dollars > 0"));
}

// The child processes' side: a hidden test case, run only by start_child.
TEST_CASE("shared budget child process", "[.shared_budget_child]") {
    const std::string role = env("CASCADE_SB_ROLE");
    const std::string name = env("CASCADE_SB_NAME");
    const int fd = std::atoi(env("CASCADE_SB_FD").c_str());
    REQUIRE(fd > 2);
    redis::Client client(fixture_server());
    if (role == "hold") {
        // Holds a reservation, says so, and waits to be killed.
        redis::SharedBudgetOptions options;
        options.lease = 200ms;
        redis::SharedBudget budget(client, name, 1.0, options);
        auto r = budget.reserve(0.75);
        REQUIRE(r);
        write_text(fd, "held\n");
        for (;;) std::this_thread::sleep_for(1s);
    }
    REQUIRE(role == "spend");
    // Spends through with_budget from several threads, with random costs at most the estimate,
    // and reports the sum of the costs it settled, in nano-dollars.
    const int calls = std::atoi(env("CASCADE_SB_EXTRA").c_str());
    redis::SharedBudget budget(client, name, many_limit);
    std::atomic<std::int64_t> charged{0};
    std::atomic<int> refused{0};
    auto model = cascade::with_budget(
        [](std::int64_t cost_nano) { return cost_nano; }, budget, many_estimate,
        [&](std::int64_t cost_nano) {
            charged.fetch_add(cost_nano);
            return static_cast<double>(cost_nano) * 1e-9;
        });
    std::vector<std::thread> threads;
    for (int t = 0; t < many_threads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 random(static_cast<std::uint64_t>(::getpid()) * 31u + static_cast<std::uint64_t>(t));
            std::uniform_int_distribution<std::int64_t> cost(0, estimate_nano);
            for (int i = t; i < calls; i += many_threads) {
                try {
                    (void)model(cost(random));
                } catch (const cascade::BudgetExhausted&) {
                    refused.fetch_add(1);
                }
            }
        });
    }
    for (std::thread& t : threads) t.join();
    REQUIRE(budget.flush(60s));
    REQUIRE(budget.local_stats().undelivered_settles == 0);
    write_text(fd, std::to_string(charged.load()) + " " + std::to_string(refused.load()) + "\n");
}

TEST_CASE("8 processes of 4 threads never spend more than the shared budget, and it counts every nano-dollar",
          "[concurrency]") {
    redis::Client client(fixture_server());
    const std::string name = fresh_name("processes");
    redis::SharedBudget budget(client, name, many_limit);
    std::vector<Child> children;
    for (int p = 0; p < many_processes; ++p) {
        children.push_back(start_child("spend", name, many_calls / many_processes));
    }
    // Watches the server while they run: what is spent and held never passes the limit.
    std::atomic<bool> running{true};
    std::atomic<int> over{0};
    std::atomic<int> looks{0};
    std::thread watcher([&] {
        redis::Client own(fixture_server());
        while (running.load()) {
            const redis::Reply v = own.command({"HMGET", budget.state_key(), "limit", "spent", "reserved"});
            const long long spent = v[1].is_nil() ? 0 : v[1].integer();
            const long long reserved = v[2].is_nil() ? 0 : v[2].integer();
            if (spent + reserved > v[0].integer()) over.fetch_add(1);
            looks.fetch_add(1);
            std::this_thread::sleep_for(1ms);
        }
    });
    std::int64_t reported = 0;
    long long refused = 0;
    int failed = 0;
    for (const Child& child : children) {
        const std::string text = read_all(child.read_fd);
        ::close(child.read_fd);
        if (exit_status(child.pid) != 0) ++failed;
        long long charged = 0;
        long long child_refused = 0;
        if (std::sscanf(text.c_str(), "%lld %lld", &charged, &child_refused) == 2) {
            reported += charged;
            refused += child_refused;
        } else {
            ++failed;
        }
    }
    running.store(false);
    watcher.join();
    REQUIRE(failed == 0);
    const auto s = budget.stats();
    CHECK(over.load() == 0);
    CHECK(looks.load() > 0);
    CHECK(field(client, budget, "spent") <= 25000000000);
    CHECK(field(client, budget, "spent") == reported);  // exactly: every settle, once
    CHECK(s.reservations + s.refusals == static_cast<std::uint64_t>(many_calls));
    CHECK(s.refusals == static_cast<std::uint64_t>(refused));
    CHECK(refused > 0);                        // it ran out part-way,
    CHECK(s.remaining() < many_estimate);      // and only when less than one estimate was left
    CHECK(s.reserved == 0.0);
    CHECK(s.leases == 0);
    CHECK(s.overruns == 0);
}

TEST_CASE("a process killed while it holds a reservation gives the money back when the lease runs out",
          "[concurrency]") {
    redis::Client client(fixture_server());
    const std::string name = fresh_name("killed");
    redis::SharedBudgetOptions options;
    options.lease = 200ms;
    redis::SharedBudget budget(client, name, 1.0, options);
    const Child child = start_child("hold", name);
    const std::string line = read_line(child.read_fd);
    ::close(child.read_fd);
    REQUIRE(line == "held");
    CHECK(budget.stats().reserved == Approx(0.75));
    CHECK_FALSE(budget.reserve(0.5));
    REQUIRE(::kill(child.pid, SIGKILL) == 0);
    CHECK(exit_status(child.pid) == 128 + SIGKILL);
    REQUIRE(eventually([&] { return budget.stats().leases_reclaimed == 1; }));
    const auto s = budget.stats();
    CHECK(s.remaining() == 1.0);
    CHECK(s.leases == 0);
    CHECK(s.spent == 0.0);
    CHECK(budget.reserve(1.0));
}
