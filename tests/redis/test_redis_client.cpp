// cascade::redis::Client against real servers: the fixture's, and servers of the test's own for a
// password, an outage and a restart.
#include <cascade/integration/redis/client.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catch.hpp"
#include "own_redis_server.hpp"
#include "redis_test_server.hpp"

namespace redis = cascade::redis;
using Catch::Matchers::Contains;
using cascade_test::fixture_server;
using cascade_test::kind_of;

namespace {

// A loopback listener that accepts connections and never answers: a server that hangs.
class SilentServer {
public:
    SilentServer() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd_, 16) == 0);  // the kernel completes the handshakes; nobody reads
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~SilentServer() { ::close(fd_); }
    [[nodiscard]] int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace

TEST_CASE("a script's SHA-1 is the one Redis computes, so EVALSHA finds it") {
    CHECK(redis::Script("").sha1() == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(redis::Script("abc").sha1() == "a9993e364706816aba3e25717850c26c9cd0d89d");
    // 56 bytes: the padding spills into a second block.
    CHECK(redis::Script("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").sha1() ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

    redis::Client client{fixture_server()};
    const redis::Script script("return 'sha1 check ' .. ARGV[1]");
    const redis::Reply loaded = client.command({"SCRIPT", "LOAD", script.source()});
    CHECK(loaded.string() == script.sha1());
}

TEST_CASE("a script runs by its SHA-1 and is sent in full only when the server lacks it") {
    // A server of its own: SCRIPT FLUSH on the fixture's server would make the scripts of tests
    // running now go missing mid-test.
    cascade_test::OwnRedisServer server;
    redis::Client client{server.options()};
    const redis::Script add("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    const std::string key = "cascade-test:client:script:" + std::to_string(::getpid());
    client.command({"DEL", key});
    client.command({"SCRIPT", "FLUSH"});
    CHECK(client.run(add, {key}, {"5"}).integer() == 5);
    CHECK(client.stats().script_loads == 1);
    CHECK(client.run(add, {key}, {"5"}).integer() == 10);
    CHECK(client.stats().script_loads == 1);  // the second run went by SHA-1
    client.command({"DEL", key});
}

TEST_CASE("a reply of an unexpected type is an error that names both types") {
    redis::Client client{fixture_server()};
    const redis::Reply pong = client.command({"PING"});
    CHECK(pong.string() == "PONG");
    CHECK_THROWS_WITH(pong.integer(), Contains("expected a whole number") && Contains("PONG"));
    CHECK_THROWS_WITH(pong.size(), Contains("expected an array") && Contains("a status"));
}

TEST_CASE("a key holding another type is a wrong_type error that names the key") {
    redis::Client client{fixture_server()};
    const std::string key = "cascade-test:client:a-string:" + std::to_string(::getpid());
    client.command({"SET", key, "x"});
    const redis::Script read_hash("return redis.call('HGET', KEYS[1], 'field')");
    try {
        client.run(read_hash, {key}, {});
        FAIL("no error");
    } catch (const redis::RedisError& e) {
        CHECK(e.kind() == redis::RedisErrorKind::wrong_type);
        CHECK_THAT(e.what(), Contains(key) && Contains("WRONGTYPE"));
        CHECK_FALSE(e.unavailable());
    }
    client.command({"DEL", key});
}

TEST_CASE("a server nobody listens on is unreachable, named in the error, and retried only after the back-off") {
    redis::ServerOptions o;
    o.port = cascade_test::free_loopback_port();
    o.reconnect_backoff = std::chrono::hours(1);
    redis::Client client{o};
    try {
        client.ping();
        FAIL("no error");
    } catch (const redis::RedisError& e) {
        CHECK(e.kind() == redis::RedisErrorKind::unreachable);
        CHECK(e.unavailable());
        CHECK_THAT(e.what(), Contains("127.0.0.1:" + std::to_string(o.port)));
    }
    CHECK(client.stats().connect_failures == 1);
    // Within the back-off the next call fails at once, without another attempt.
    CHECK_THROWS_WITH(client.ping(), Contains("the next attempt is in"));
    CHECK(client.stats().connect_failures == 1);
    CHECK(client.stats().unavailable == 2);
}

TEST_CASE("a server that does not answer times out within the command timeout") {
    SilentServer silent;
    redis::ServerOptions o;
    o.port = silent.port();
    o.command_timeout = std::chrono::milliseconds(50);
    redis::Client client{o};
    CHECK(kind_of([&] { client.ping(); }) == redis::RedisErrorKind::timed_out);
    CHECK(client.stats().timeouts == 1);
}

TEST_CASE("a deadline that has passed fails before any round trip") {
    redis::Client client{fixture_server()};
    client.ping();
    const auto before = client.stats();
    CHECK(kind_of([&] { client.ping(std::chrono::steady_clock::now() - std::chrono::milliseconds(1)); }) ==
          redis::RedisErrorKind::timed_out);
    CHECK(client.stats().round_trips == before.round_trips);
}

TEST_CASE("a wrong password, and a missing one, are auth errors that say what to set") {
    cascade_test::OwnRedisServer server({"--requirepass", "right"});
    auto o = server.options();
    {
        redis::Client client{o};
        try {
            client.ping();
            FAIL("no error");
        } catch (const redis::RedisError& e) {
            CHECK(e.kind() == redis::RedisErrorKind::auth);
            CHECK_THAT(e.what(), Contains("ServerOptions::password"));
        }
    }
    o.password = "wrong";
    {
        redis::Client client{o};
        try {
            client.ping();
            FAIL("no error");
        } catch (const redis::RedisError& e) {
            CHECK(e.kind() == redis::RedisErrorKind::auth);
            CHECK_THAT(e.what(), Contains("refused the password"));
            CHECK_FALSE(e.unavailable());
        }
    }
    o.password = "right";
    redis::Client client{o};
    CHECK_NOTHROW(client.ping());
}

TEST_CASE("the client reconnects once a server that went away is back") {
    cascade_test::OwnRedisServer server;
    redis::Client client{server.options()};
    client.ping();
    server.stop();
    CHECK(kind_of([&] { client.ping(); }) == redis::RedisErrorKind::unreachable);
    server.start();
    // The pooled connection died with the server; the client opens a new one after its back-off.
    bool answered = false;
    for (int i = 0; i < 500 && !answered; ++i) {
        try {
            client.ping();
            answered = true;
        } catch (const redis::RedisError&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    CHECK(answered);
    CHECK(client.stats().connections_opened >= 2);
}

TEST_CASE("many threads share one client") {
    redis::Client client{fixture_server()};
    const std::string key = "cascade-test:client:threads:" + std::to_string(::getpid());
    client.command({"DEL", key});
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) client.command({"INCR", key});
        });
    }
    for (auto& t : threads) t.join();
    CHECK(client.command({"GET", key}).integer() == 1600);
    CHECK(client.stats().connections_opened <= 9);
    client.command({"DEL", key});
}

TEST_CASE("options that cannot work are refused, naming the field") {
    redis::ServerOptions o;
    o.port = 0;
    CHECK_THROWS_WITH(redis::Client{o}, Contains("port"));
    o = {};
    o.command_timeout = std::chrono::milliseconds(0);
    CHECK_THROWS_WITH(redis::Client{o}, Contains("command_timeout"));
    o = {};
    o.host.clear();
    CHECK_THROWS_WITH(redis::Client{o}, Contains("host"));
    o = {};
    o.username = "alice";
    CHECK_THROWS_WITH(redis::Client{o}, Contains("without a password"));
}

TEST_CASE("a server that cannot serve yet is unavailable, not a fault") {
    using cascade::redis::detail::classify_reply_error;
    CHECK(classify_reply_error("LOADING Redis is loading the dataset in memory") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("BUSY Redis is busy running a script.") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("TRYAGAIN Multiple keys request during rehashing of slot") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("CLUSTERDOWN The cluster is down") == redis::RedisErrorKind::not_ready);
    // A failover or a full server: the command did not run, and another moment (or the new
    // primary) serves it.
    CHECK(classify_reply_error("READONLY You can't write against a read only replica.") ==
          redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
                               "to disk.") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("OOM command not allowed when used memory > 'maxmemory'.") ==
          redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.") ==
          redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("NOREPLICAS Not enough good replicas to write.") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("MOVED 3999 127.0.0.1:6381") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("ASK 3999 127.0.0.1:6381") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("ERR max number of clients reached") == redis::RedisErrorKind::not_ready);
    // Inside a script's error, as Redis 7 words it and as Redis 6 did.
    CHECK(classify_reply_error("READONLY You can't write against a read only replica. script: 5f1a, on "
                               "@user_script:4.") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("ERR Error running script (call to f_5f1a): @user_script:4: @user_script: 4: -READONLY "
                               "You can't write against a read only replica.") == redis::RedisErrorKind::not_ready);
    CHECK(classify_reply_error("ERR Error running script (call to f_5f1a): @user_script:4: @user_script: 4: -OOM "
                               "command not allowed when used memory > 'maxmemory'.") ==
          redis::RedisErrorKind::not_ready);
    // Words that only look alike stay faults.
    CHECK(classify_reply_error("ERR unknown command 'MOVEDX'") == redis::RedisErrorKind::reply);
    CHECK(classify_reply_error("ERR the value READONLY is not a number") == redis::RedisErrorKind::reply);
    CHECK(classify_reply_error("ASKING is not allowed here") == redis::RedisErrorKind::reply);
    CHECK(classify_reply_error("BUSYKEY Target key name already exists.") == redis::RedisErrorKind::reply);
    CHECK(classify_reply_error("WRONGPASS invalid username-password pair") == redis::RedisErrorKind::auth);
    CHECK(classify_reply_error("ERR unknown command") == redis::RedisErrorKind::reply);
    CHECK(redis::RedisError(redis::RedisErrorKind::not_ready, "x").unavailable());
    CHECK_FALSE(redis::RedisError(redis::RedisErrorKind::lost_state, "x").unavailable());
}

TEST_CASE("a pooled connection the server has closed is replaced within the call, not reported as an outage") {
    cascade_test::OwnRedisServer server;
    redis::Client client{server.options()};
    const std::string key = "cascade-test:client:stale:" + std::to_string(::getpid());
    client.command({"SET", key, "0"});  // one connection, now idle in the pool
    redis::Client killer{server.options()};
    // Every client but the killer's own connection, as a restart or an idle time-out would.
    CHECK(killer.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}).integer() >= 1);
    CHECK(client.command({"INCR", key}).integer() == 1);
    const auto stats = client.stats();
    CHECK(stats.retried == 1);
    CHECK(stats.unavailable == 0);
    CHECK(stats.connections_opened == 2);
    // The replacement went back to the pool and serves the next call.
    CHECK(client.command({"INCR", key}).integer() == 2);
    CHECK(client.stats().connections_opened == 2);

    // A pool of several connections, all cut: no call fails.
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                try {
                    client.command({"INCR", key});
                } catch (const redis::RedisError&) {
                    failures.fetch_add(1);
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(failures.load() == 0);
    killer.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    for (int i = 0; i < 12; ++i) CHECK_NOTHROW(client.command({"INCR", key}));
    CHECK(client.stats().unavailable == 0);

    // A server that is gone for good is still an outage: the one new connection fails too.
    server.stop();
    CHECK(kind_of([&] { client.ping(); }) == redis::RedisErrorKind::unreachable);
}

namespace {

// A loopback server for one connection that answers its first command (the AUTH) with +OK after
// `delay`, then reads on and never answers again: a server that is slow to log in, then hangs.
class SlowLoginServer {
public:
    explicit SlowLoginServer(std::chrono::milliseconds delay) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd_, 4) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this, delay] {
            const int peer = ::accept(fd_, nullptr, nullptr);
            if (peer < 0) return;
            char buffer[512];
            bool answered = false;
            for (;;) {
                const ssize_t n = ::read(peer, buffer, sizeof buffer);
                if (n <= 0) break;
                if (!answered) {
                    answered = true;
                    std::this_thread::sleep_for(delay);
                    [[maybe_unused]] const ssize_t sent = ::write(peer, "+OK\r\n", 5);
                }
            }
            ::close(peer);
        });
    }
    ~SlowLoginServer() {
        ::shutdown(fd_, SHUT_RDWR);  // ends a pending accept
        ::close(fd_);
        thread_.join();
    }
    [[nodiscard]] int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace

// Client::borrow hands the open the earlier of the call's deadline and the end of connect_timeout,
// so this holds for the call's deadline too.
TEST_CASE("opening a connection shares one time limit among the connect, AUTH and SELECT") {
    SlowLoginServer server(std::chrono::milliseconds(100));
    redis::ServerOptions o;
    o.port = server.port();
    o.password = "secret";
    o.database = 1;
    o.connect_timeout = std::chrono::milliseconds(300);
    redis::Client client{o};
    // The AUTH is answered after 100 ms, the SELECT never: the SELECT may wait only what is left
    // of the 300 ms, not 300 ms of its own.
    try {
        client.ping();
        FAIL("no error");
    } catch (const redis::RedisError& e) {
        CHECK(e.kind() == redis::RedisErrorKind::timed_out);
        const std::string what = e.what();
        INFO(what);
        if (what.find("SELECT") != std::string::npos) CHECK(what.find("within 300 ms") == std::string::npos);
        CHECK(client.stats().timeouts == 1);
    }
}
