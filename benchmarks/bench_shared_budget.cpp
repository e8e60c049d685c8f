// What a cascade::redis::SharedBudget adds to a model call, next to one bare round trip to the same
// Redis measured in the same run, and how many reservations a second 8 processes get through it.
//
//     bench_shared_budget [Google Benchmark flags]          latency: PING, with_budget, and the ratio
//     bench_shared_budget --throughput [seconds]            8 processes reserving and settling
//
// The server: CASCADE_BENCH_REDIS_PORT names a running one on 127.0.0.1; without it the program
// starts redis-server (from PATH) on a free loopback port, without persistence, and stops it.
#include <cascade/integration/redis/shared_budget.hpp>
#include <cascade/runtime/budget.hpp>

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace redis = cascade::redis;

namespace {

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        std::perror("bench_shared_budget: cannot find a free port");
        std::exit(1);
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// The server the benchmark talks to, started here when none is named.
class Server {
public:
    Server() {
        if (const char* named = std::getenv("CASCADE_BENCH_REDIS_PORT")) {
            port_ = std::atoi(named);
            return;
        }
        port_ = free_port();
        pid_ = ::fork();
        if (pid_ == 0) {
            const int quiet = ::open("/dev/null", O_WRONLY);
            if (quiet >= 0) ::dup2(quiet, STDOUT_FILENO);
            const std::string port = std::to_string(port_);
            ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
            std::perror("bench_shared_budget: cannot run redis-server (set CASCADE_BENCH_REDIS_PORT to use a running one)");
            std::_Exit(127);
        }
        redis::ServerOptions options = server();
        redis::Client client(options);
        for (int i = 0; i < 200; ++i) {
            try {
                client.ping();
                return;
            } catch (const redis::RedisError&) {
                std::this_thread::sleep_for(std::chrono::milliseconds(25));
            }
        }
        std::fprintf(stderr, "bench_shared_budget: redis-server did not answer on port %d\n", port_);
        std::exit(1);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    [[nodiscard]] redis::ServerOptions server() const {
        redis::ServerOptions options;
        options.port = port_;
        options.command_timeout = std::chrono::milliseconds(1000);
        return options;
    }

private:
    int port_ = 0;
    pid_t pid_ = -1;
};

Server* the_server = nullptr;

std::string fresh_budget(redis::Client& client, const std::string& name) {
    const std::string prefix = "cascade:{budget:" + name + "}";
    client.command({"DEL", prefix + ":state", prefix + ":leases", prefix + ":reclaimed", prefix + ":settled"});
    return name;
}

// The baseline: one round trip, as the budget's client makes it.
void ping_round_trip(benchmark::State& state) {
    redis::Client client(the_server->server());
    for (auto _ : state) client.ping();
}

// A model call through with_budget on a shared budget: the reserve's round trip, the empty model,
// the settle queued for the background thread (which sends it in a batch, off the call's path).
void with_shared_budget(benchmark::State& state) {
    redis::Client client(the_server->server());
    redis::SharedBudget budget(client, fresh_budget(client, "bench-latency"), 9.0e6);
    auto model = cascade::with_budget([](int x) { return x; }, budget, 1e-6);
    int i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(model(++i));
    budget.flush(std::chrono::seconds(10));
}

// The reserve alone, released at once (the release is queued too).
void reserve_only(benchmark::State& state) {
    redis::Client client(the_server->server());
    redis::SharedBudget budget(client, fresh_budget(client, "bench-reserve"), 9.0e6);
    for (auto _ : state) benchmark::DoNotOptimize(budget.reserve(1e-6));
    budget.flush(std::chrono::seconds(10));
}

BENCHMARK(ping_round_trip)->UseRealTime();
BENCHMARK(with_shared_budget)->UseRealTime();
BENCHMARK(reserve_only)->UseRealTime();

// The console's report, then "with_budget / PING" from the wall times of this run (the median when
// repeated, else the one run).
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            if (r.run_type == Run::RT_Aggregate ? r.aggregate_name == "median" : r.repetitions <= 1) {
                real_ns_[r.run_name.function_name] = r.GetAdjustedRealTime();
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        const auto ping = real_ns_.find("ping_round_trip");
        if (ping == real_ns_.end() || ping->second <= 0.0) return;
        for (const char* c : {"with_shared_budget", "reserve_only"}) {
            const auto x = real_ns_.find(c);
            if (x == real_ns_.end()) continue;
            std::printf("ratio %-18s / PING = %.2f  (%.1f us vs %.1f us)\n", c, x->second / ping->second, x->second / 1e3,
                        ping->second / 1e3);
        }
    }

private:
    std::map<std::string, double> real_ns_;
};

// One process of the throughput mode: reserves and settles as fast as it can until `until`, from
// one thread, and writes how many reservations it was granted.
[[noreturn]] void spend_flat_out(const redis::ServerOptions& options, std::chrono::steady_clock::time_point until, int fd) {
    std::uint64_t granted = 0;
    {
        redis::Client client(options);
        redis::SharedBudgetOptions budget_options;
        // The default settle_delay, unless CASCADE_BENCH_SETTLE_DELAY_US says another (in us).
        if (const char* delay = std::getenv("CASCADE_BENCH_SETTLE_DELAY_US")) {
            budget_options.settle_delay = std::chrono::microseconds(std::atoll(delay));
        }
        redis::SharedBudget budget(client, "bench-throughput", 9.0e6, budget_options);
        while (std::chrono::steady_clock::now() < until) {
            if (auto r = budget.reserve(1e-6)) {
                budget.settle(std::move(*r), 5e-7);
                ++granted;
            }
        }
        budget.flush(std::chrono::seconds(30));
    }
    const std::string text = std::to_string(granted) + "\n";
    if (::write(fd, text.data(), text.size()) < 0) std::_Exit(2);
    std::_Exit(0);
}

int throughput(double seconds) {
    constexpr int processes = 8;
    const redis::ServerOptions options = the_server->server();
    {
        redis::Client client(options);
        fresh_budget(client, "bench-throughput");
        redis::SharedBudget budget(client, "bench-throughput", 9.0e6);  // writes the limit
    }
    int fds[2];
    if (::pipe(fds) != 0) return 1;
    const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    const auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(seconds));
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            std::this_thread::sleep_until(start);
            spend_flat_out(options, until, fds[1]);
        }
        children.push_back(pid);
    }
    ::close(fds[1]);
    std::string text;
    char buffer[256];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
    ::close(fds[0]);
    for (const pid_t pid : children) ::waitpid(pid, nullptr, 0);
    std::uint64_t granted = 0;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t end = text.find('\n', at);
        granted += std::strtoull(text.c_str() + at, nullptr, 10);
        at = end == std::string::npos ? text.size() : end + 1;
    }
    redis::Client client(options);
    const redis::Reply v = client.command({"HMGET", "cascade:{budget:bench-throughput}:state", "reservations", "spent", "reserved"});
    std::printf("throughput: %d processes, %.1f s: %llu reservations granted and settled, %.0f per second\n", processes,
                seconds, static_cast<unsigned long long>(granted), static_cast<double>(granted) / seconds);
    std::printf("server: reservations %lld, spent %lld nano-dollars (%s), reserved %lld\n", v[0].integer(), v[1].integer(),
                static_cast<std::uint64_t>(v[1].integer()) == granted * 500 ? "every settle, once" : "MISMATCH",
                v[2].integer());
    return static_cast<std::uint64_t>(v[1].integer()) == granted * 500 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--throughput") == 0) {
        const double seconds = argc >= 3 ? std::atof(argv[2]) : 5.0;
        Server server;
        the_server = &server;
        return throughput(seconds > 0.0 ? seconds : 5.0);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    Server server;
    the_server = &server;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
