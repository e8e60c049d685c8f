// SPDX-License-Identifier: MIT
// The recorded chat-completions server on its own, to try the openai_cascade example without an
// API key:
//
//     recorded_chat_server tests/e2e/recorded 8080 &
//     export CASCADE_BASE_URL=http://127.0.0.1:8080/v1 CASCADE_CHEAP_MODEL=cheap-model
//     export CASCADE_FRONTIER_MODEL=frontier-model
//     openai_cascade "Integrate x^2 from 0 to 1."
//
// It serves until it gets SIGINT or SIGTERM (Ctrl-C, kill %1).
#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <pthread.h>
#include <string>

#include "recorded_chat_server.hpp"

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: recorded_chat_server RECORDED_DIR [PORT]\n";
        return 2;
    }
    // Blocked before the server's threads start, so that they inherit the mask and the signals
    // reach sigwait below.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    try {
        e2e::RecordedChatServer server(argv[1]);
        const int port = server.start(argc == 3 ? std::atoi(argv[2]) : 0);
        std::cout << "serving recorded replies at http://127.0.0.1:" << port << "/v1" << std::endl;
        int received = 0;
        sigwait(&stop_signals, &received);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "recorded_chat_server: " << e.what() << '\n';
        return 1;
    }
}
