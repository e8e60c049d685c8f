// SPDX-License-Identifier: MIT
#ifndef CASCADE_TESTS_REDIS_OWN_REDIS_SERVER_HPP
#define CASCADE_TESTS_REDIS_OWN_REDIS_SERVER_HPP

// A redis-server that a test starts, stops and restarts itself, for what the shared fixture's
// server must not go through (a password, an outage, a restart). It runs on a free loopback port
// in a fresh directory, and is stopped when the object goes.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <cascade/integration/redis/client.hpp>

#include "redis_test_server.hpp"

#ifndef CASCADE_TEST_REDIS_SERVER
#define CASCADE_TEST_REDIS_SERVER "redis-server"
#endif

namespace cascade_test {

class OwnRedisServer {
public:
    // `extra` are more redis-server options, e.g. {"--requirepass", "secret"} or
    // {"--appendonly", "yes", "--appendfsync", "always"} for a server whose data survive a restart.
    explicit OwnRedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)), port_(free_loopback_port()) {
        char pattern[] = "/tmp/cascade-redis-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("OwnRedisServer: mkdtemp failed");
        dir_ = pattern;
        for (std::size_t i = 0; i + 1 < extra_.size(); ++i) {
            if (extra_[i] == "--requirepass") password_ = extra_[i + 1];
        }
        start();
    }
    ~OwnRedisServer() {
        stop();
        const std::string command = "rm -rf '" + dir_ + "'";
        [[maybe_unused]] const int ignored = std::system(command.c_str());
    }
    OwnRedisServer(const OwnRedisServer&) = delete;
    OwnRedisServer& operator=(const OwnRedisServer&) = delete;

    [[nodiscard]] int port() const noexcept { return port_; }

    // Where it is, without its password.
    cascade::redis::ServerOptions options() const {
        cascade::redis::ServerOptions o;
        o.port = port_;
        o.reconnect_backoff = std::chrono::milliseconds(20);
        return o;
    }

    // Starts the server and waits until it answers PING; a server that does not is stopped.
    void start() {
        if (pid_ > 0) return;
        std::vector<std::string> args{CASCADE_TEST_REDIS_SERVER, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                      "--save", "", "--dir", dir_, "--daemonize", "no", "--logfile",
                                      dir_ + "/redis.log"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("OwnRedisServer: fork failed");
        if (pid_ == 0) {
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::execvp("redis-server", argv.data());
            std::_Exit(127);
        }
        cascade::redis::ServerOptions o = options();
        o.password = password_;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (;;) {
            try {
                cascade::redis::Client probe{o};
                probe.ping();
                return;
            } catch (const cascade::redis::RedisError& e) {
                if (std::chrono::steady_clock::now() > give_up) {
                    stop();
                    throw std::runtime_error(std::string("OwnRedisServer: redis-server did not answer on port ") +
                                             std::to_string(port_) + ": " + e.what());
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }

    // Stops it: SIGTERM lets it write its append-only file, if it keeps one, before it exits.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    void restart() {
        stop();
        start();
    }

private:
    std::vector<std::string> extra_;
    int port_;
    std::string dir_;
    std::string password_;
    pid_t pid_ = -1;
};

}  // namespace cascade_test

#endif  // CASCADE_TESTS_REDIS_OWN_REDIS_SERVER_HPP
