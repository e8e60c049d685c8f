// SPDX-License-Identifier: MIT
// What the Redis integration tests share: the redis-server started for the build tree by the CTest
// fixture redis_server (tests/redis/CMakeLists.txt), which writes its port to the file that the
// environment variable CASCADE_TEST_REDIS_PORT_FILE names, and the helpers every test file uses
// around it.
#ifndef CASCADE_TESTS_REDIS_TEST_SERVER_HPP
#define CASCADE_TESTS_REDIS_TEST_SERVER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cascade/core/event.hpp>
#include <cascade/integration/redis/redis_error.hpp>
#include <cascade/integration/redis/server_options.hpp>

#include "catch.hpp"

namespace cascade_test {

/// The loopback port of the fixture's redis-server. Throws std::runtime_error, which fails the
/// test with the message, when the test was not started by ctest or the fixture did not start.
inline int test_redis_port() {
    const char* path = std::getenv("CASCADE_TEST_REDIS_PORT_FILE");
    if (path == nullptr || *path == '\0') {
        throw std::runtime_error(
            "test_redis_port: CASCADE_TEST_REDIS_PORT_FILE is not set; run this test through ctest, "
            "whose fixture redis.server.start starts redis-server, or set it to a file holding a port");
    }
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error(std::string("test_redis_port: cannot open ") + path +
                                 "; did the test redis.server.start run and pass?");
    }
    long port = 0;
    if (!(in >> port) || port < 1 || port > 65535) {
        throw std::runtime_error(std::string("test_redis_port: ") + path + " does not hold a port number");
    }
    return static_cast<int>(port);
}

/// The fixture's server, with timeouts long enough that a loaded machine or a sanitizer build is
/// not taken for an outage: no test on the fixture's server waits on a timeout.
inline cascade::redis::ServerOptions fixture_server() {
    cascade::redis::ServerOptions server;
    server.port = test_redis_port();
    server.command_timeout = std::chrono::seconds(2);
    server.connect_timeout = std::chrono::seconds(2);
    return server;
}

/// A loopback port nothing listens on right now (the kernel's pick for port 0, closed again): a
/// server that is down, or a port for a listener of the test's own.
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("free_loopback_port: socket() failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        ::close(fd);
        throw std::runtime_error("free_loopback_port: bind() failed");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// A name no other test uses: the C++17 and C++20 builds of a file run at once against one
/// server, so the name holds the standard, the process id and a counter of the process.
inline std::string unique_name(const std::string& what) {
    static std::atomic<int> serial{0};
    return what + "-" + std::to_string(__cplusplus) + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(serial.fetch_add(1));
}

/// The kind of the cascade::redis::RedisError that `fn` throws; fails the test when it throws none.
inline cascade::redis::RedisErrorKind kind_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const cascade::redis::RedisError& e) {
        INFO(e.what());
        return e.kind();
    }
    FAIL("expected a cascade::redis::RedisError");
    return cascade::redis::RedisErrorKind::reply;
}

/// The events a component's hook heard, from any thread: their kinds and details, in order.
struct Recorder {
    std::mutex mutex;
    std::vector<cascade::EventKind> kinds;
    std::vector<std::string> details;
    cascade::EventHook hook() {
        return [this](const cascade::Event& e) {
            std::lock_guard<std::mutex> lock(mutex);
            kinds.push_back(e.kind);
            details.emplace_back(e.detail);
        };
    }
    std::size_t count(cascade::EventKind kind) {
        std::lock_guard<std::mutex> lock(mutex);
        return static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), kind));
    }
};

}  // namespace cascade_test

#endif  // CASCADE_TESTS_REDIS_TEST_SERVER_HPP
