// SPDX-License-Identifier: MIT
// An OpenAI-compatible /v1/chat/completions server on loopback that answers from recorded
// replies: for each (model, question) a list of replies served in turn, the last one repeated.
// A reply is a status, a body (a recorded file or inline text), headers, and optionally a hang
// before answering, or a body that never ends (one chunk sent again and again, at once or at an
// interval). A reply may also hold a recorded stream of Server-Sent Events (a `.sse` file), served
// to requests that ask for `"stream": true`: event by event, with chunked transfer or delimited
// by closing the connection, each event after a delay of its own (to pace a stream or stall it).
// It records every request it receives, and the connection it came on, so tests can check what
// was sent and whether connections were reused.
#ifndef CASCADE_E2E_RECORDED_CHAT_SERVER_HPP
#define CASCADE_E2E_RECORDED_CHAT_SERVER_HPP

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace e2e {

struct RecordedReply {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds hang{0};  ///< waited before answering (cut short when the server stops)
    /// When not empty, the body is this chunk repeated until the client goes away or the server
    /// stops, `body` first; `chunk_every` apart (0: as fast as the client reads).
    std::string endless_chunk;
    std::chrono::milliseconds chunk_every{0};
    /// For a request with `"stream": true`, when not empty: the events of a recorded stream (each
    /// with its blank line), sent one by one, `event_every` apart and `pause_before[i]` before
    /// event i. Without a stream, such a request gets `body` as any other.
    std::vector<std::string> events;
    std::chrono::milliseconds event_every{0};
    std::map<std::size_t, std::chrono::milliseconds> pause_before;
    /// Send the stream without chunked transfer, ended by closing the connection.
    bool close_delimited = false;
};

/// Splits a recorded stream into its events: each ends after the blank line that closes it (a
/// last event without one is kept as it is, as a cut stream ends).
inline std::vector<std::string> split_events(const std::string& stream) {
    std::vector<std::string> events;
    std::size_t start = 0;
    while (start < stream.size()) {
        const std::size_t end = stream.find("\n\n", start);
        if (end == std::string::npos) {
            events.push_back(stream.substr(start));
            break;
        }
        events.push_back(stream.substr(start, end + 2 - start));
        start = end + 2;
    }
    return events;
}

struct ReceivedRequest {
    std::string model;
    std::string question;  ///< the content of the last message
    nlohmann::json body;
    std::string authorization;
    int remote_port = -1;  ///< the client's end of the connection: one port, one connection
    bool stream = false;   ///< the request asked for `"stream": true`
};

class RecordedChatServer {
public:
    /// Loads `scenarios.json` from `directory`; bodies named by "file" are read from there too.
    explicit RecordedChatServer(const std::string& directory) { load(directory); }

    ~RecordedChatServer() { stop(); }
    RecordedChatServer(const RecordedChatServer&) = delete;
    RecordedChatServer& operator=(const RecordedChatServer&) = delete;

    /// Listens on 127.0.0.1 at `port` (0: any free port) and returns the port.
    int start(int port = 0) {
        // Every request on one connection while the client keeps it: the tests count connections.
        server_.set_keep_alive_max_count(100000);
        // Each event goes out when it is written, as a real server's do: without it, a write that
        // follows another on a kept connection waits for the client's delayed ACK (about 40 ms).
        server_.set_tcp_nodelay(true);
        server_.Post("/v1/chat/completions",
                     [this](const httplib::Request& request, httplib::Response& response) { serve(request, response); });
        port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1") : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
        if (port_ <= 0) throw std::runtime_error("recorded chat server: cannot listen on 127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // httplib's stop() only ends a listen loop that has started: wait for it, so that a
        // server stopped right after start() does not leave its thread in accept().
        while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return port_;
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) {
            server_.stop();
            thread_.join();
        }
    }

    [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

    [[nodiscard]] std::vector<ReceivedRequest> requests() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return received_;
    }

    /// How many connections the requests so far came on.
    [[nodiscard]] std::size_t connections() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<int> ports;
        for (const auto& r : received_) {
            if (std::find(ports.begin(), ports.end(), r.remote_port) == ports.end()) ports.push_back(r.remote_port);
        }
        return ports.size();
    }

    /// How many requests reached (model, question).
    [[nodiscard]] int calls(const std::string& model, const std::string& question) const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = served_.find({model, question});
        return it == served_.end() ? 0 : it->second;
    }

private:
    using Key = std::pair<std::string, std::string>;  // model, question

    static std::string read_file(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("recorded chat server: cannot read " + path);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    void load(const std::string& directory) {
        const auto scenarios = nlohmann::json::parse(read_file(directory + "/scenarios.json"));
        for (const auto& scenario : scenarios.at("scenarios")) {
            const std::string question = scenario.at("question").get<std::string>();
            for (const auto& [model, replies] : scenario.at("replies").items()) {
                std::vector<RecordedReply>& list = script_[{model, question}];
                for (const auto& r : replies) {
                    RecordedReply reply;
                    reply.status = r.value("status", 200);
                    reply.body = r.contains("file") ? read_file(directory + "/" + r.at("file").get<std::string>())
                                                    : r.value("body", "");
                    if (r.contains("headers")) {
                        for (const auto& [name, value] : r.at("headers").items()) {
                            reply.headers.emplace_back(name, value.get<std::string>());
                        }
                    }
                    reply.hang = std::chrono::milliseconds(r.value("hang_ms", 0));
                    reply.endless_chunk = r.value("endless_chunk", "");
                    reply.chunk_every = std::chrono::milliseconds(r.value("chunk_every_ms", 0));
                    if (r.contains("stream_file")) {
                        reply.events = split_events(read_file(directory + "/" + r.at("stream_file").get<std::string>()));
                    }
                    reply.event_every = std::chrono::milliseconds(r.value("event_every_ms", 0));
                    if (r.contains("pause_before_event_ms")) {
                        for (const auto& [index, ms] : r.at("pause_before_event_ms").items()) {
                            reply.pause_before[static_cast<std::size_t>(std::stoul(index))] =
                                std::chrono::milliseconds(ms.get<int>());
                        }
                    }
                    reply.close_delimited = r.value("close_delimited", false);
                    list.push_back(std::move(reply));
                }
            }
        }
    }

    void serve(const httplib::Request& request, httplib::Response& response) {
        ReceivedRequest received;
        received.body = nlohmann::json::parse(request.body, nullptr, false);
        received.authorization = request.get_header_value("Authorization");
        received.remote_port = request.remote_port;
        if (received.body.is_object()) {
            received.model = received.body.value("model", "");
            const auto messages = received.body.find("messages");
            if (messages != received.body.end() && messages->is_array() && !messages->empty()) {
                received.question = messages->back().value("content", "");
            }
            received.stream = received.body.value("stream", false);
        }
        RecordedReply reply;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const Key key{received.model, received.question};
            received_.push_back(received);
            const int served = served_[key]++;
            const auto it = script_.find(key);
            if (it == script_.end() || it->second.empty()) {
                reply.status = 404;
                reply.body = nlohmann::json{{"error",
                                             {{"message", "no recorded reply for model '" + received.model +
                                                              "' and question '" + received.question + "'"},
                                              {"type", "invalid_request_error"}}}}
                                 .dump();
            } else {
                const std::size_t index = std::min(static_cast<std::size_t>(served), it->second.size() - 1);
                reply = it->second[index];
            }
        }
        if (reply.hang.count() > 0) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait_for(lock, reply.hang, [this] { return stopping_; });
        }
        response.status = reply.status;
        for (const auto& [name, value] : reply.headers) response.set_header(name, value);
        if (received.stream && !reply.events.empty()) {
            serve_stream(std::move(reply), response);
            return;
        }
        if (reply.endless_chunk.empty()) {
            response.set_content(reply.body, "application/json");
            return;
        }
        // Sent as fast as it goes, the chunk is made large, so that a client without a size limit
        // takes in gigabytes within seconds; at an interval it goes as it is.
        std::string chunk = reply.endless_chunk;
        if (reply.chunk_every.count() == 0) {
            while (chunk.size() < 65536) chunk += reply.endless_chunk;
        }
        response.set_chunked_content_provider(
            "application/json", [this, first = reply.body, chunk, every = reply.chunk_every](
                                    std::size_t offset, httplib::DataSink& sink) {
                if (offset == 0 && !first.empty()) return sink.write(first.data(), first.size());
                {
                    std::unique_lock<std::mutex> lock(mutex_);
                    if (every.count() > 0) wake_.wait_for(lock, every, [this] { return stopping_; });
                    if (stopping_) return false;
                }
                return sink.write(chunk.data(), chunk.size());
            });
    }

    // Sends a recorded stream event by event; stops when the client goes away or the server stops.
    void serve_stream(RecordedReply reply, httplib::Response& response) {
        const bool close_delimited = reply.close_delimited;
        auto next = std::make_shared<std::size_t>(0);
        auto provider = [this, reply = std::move(reply), next](std::size_t, httplib::DataSink& sink) {
            const std::size_t i = *next;
            if (i >= reply.events.size()) {
                // A close-delimited body ends when the connection does: failing here makes the
                // server close it at once (it would otherwise wait for another request on it).
                if (reply.close_delimited) return false;
                sink.done();
                return true;
            }
            auto wait = reply.event_every;
            if (const auto pause = reply.pause_before.find(i); pause != reply.pause_before.end()) wait += pause->second;
            if (wait.count() > 0) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait_for(lock, wait, [this] { return stopping_; });
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (stopping_) return false;
            }
            ++*next;
            return sink.write(reply.events[i].data(), reply.events[i].size());
        };
        if (close_delimited) {
            response.set_header("Connection", "close");
            response.set_content_provider("text/event-stream", std::move(provider));
        } else {
            response.set_chunked_content_provider("text/event-stream", std::move(provider));
        }
    }

    httplib::Server server_;
    std::thread thread_;
    int port_ = -1;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::map<Key, std::vector<RecordedReply>> script_;
    std::map<Key, int> served_;
    std::vector<ReceivedRequest> received_;
};

}  // namespace e2e

#endif  // CASCADE_E2E_RECORDED_CHAT_SERVER_HPP
