#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "control/api_server.h"
#include "tests/unit/api_test_support.h"

namespace vipgate {
namespace {

using api_test::connect_unix;
using api_test::send_and_receive;
using api_test::TemporaryDirectory;
using nlohmann::json;

json echo(const json& request) {
    return {{"ok", true}, {"echo", request}};
}

json parse_answer(const std::string& text) {
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n') << "an answer is one line";
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "an answer is one line";
    return json::parse(text);
}

TEST(ApiServer, RoundTripThroughTheSocket) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/run/vipgate/api.sock";
    std::vector<json> seen;
    ApiServer server(path, [&](const json& request) {
        seen.push_back(request);
        return echo(request);
    });
    server.start();
    const json request = {{"op", "get"}, {"resource", "services"}, {"namespace", "default"}};
    const json answer = parse_answer(send_and_receive(path, request.dump() + "\n"));
    EXPECT_EQ(answer, echo(request));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], request);
    // A second request on a new connection: one request per connection.
    EXPECT_EQ(parse_answer(send_and_receive(path, "{\"op\":\"dump\"}\n"))["echo"]["op"], "dump");
}

TEST(ApiServer, SocketIsOwnerOnlyInAnOwnerOnlyDirectory) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/created/api.sock";
    ApiServer server(path, echo);
    server.start();
    struct stat status {};
    ASSERT_EQ(lstat(path.c_str(), &status), 0);
    EXPECT_TRUE(S_ISSOCK(status.st_mode));
    EXPECT_EQ(status.st_mode & 07777, 0600u);
    ASSERT_EQ(stat((directory.path() + "/created").c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0700u);
    server.stop();
    EXPECT_NE(access(path.c_str(), F_OK), 0) << "stop() removes the socket";
}

TEST(ApiServer, MalformedRequestsAreAnsweredAndTheServerGoesOn) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    int calls = 0;
    ApiServer server(path, [&](const json& request) {
        ++calls;
        return echo(request);
    });
    server.start();
    json answer = parse_answer(send_and_receive(path, "{\"op\": get}\n"));
    EXPECT_EQ(answer["ok"], false);
    EXPECT_EQ(answer["error"].get<std::string>().rfind("malformed request: parse error", 0), 0u) << answer;
    answer = parse_answer(send_and_receive(path, "[1, 2]\n"));
    EXPECT_EQ(answer["ok"], false);
    EXPECT_EQ(answer["error"], "malformed request: expected a JSON object, got array");
    answer = parse_answer(send_and_receive(path, "{\"op\":\"\xff\"}\n"));
    EXPECT_EQ(answer["ok"], false) << "invalid UTF-8 is malformed";
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(parse_answer(send_and_receive(path, "{\"op\":\"dump\"}\n"))["ok"], true);
}

TEST(ApiServer, RequestWithoutNewlineIsServedWhenTheClientHalfCloses) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer server(path, echo);
    server.start();
    const int fd = connect_unix(path);
    ASSERT_GE(fd, 0);
    const std::string request = "{\"op\":\"dump\"}";
    ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    shutdown(fd, SHUT_WR);
    char buffer[256];
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    close(fd);
    ASSERT_GT(got, 0);
    EXPECT_EQ(parse_answer(std::string(buffer, static_cast<size_t>(got)))["echo"]["op"], "dump");
}

TEST(ApiServer, NumbersOutOfRangeGetAMalformedRequestAnswer) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer server(path, echo);
    server.start();
    for (const char* text : {"1e999999\n", "{\"op\":\"get\",\"limit\":-1e400}\n"}) {
        const json answer = parse_answer(send_and_receive(path, text));
        EXPECT_EQ(answer["ok"], false) << text;
        EXPECT_EQ(answer["error"].get<std::string>().rfind("malformed request: ", 0), 0u) << answer;
    }
    EXPECT_EQ(parse_answer(send_and_receive(path, "{\"op\":\"dump\"}\n"))["ok"], true);
}

TEST(ApiServer, DeepNestingIsRefusedBeforeParsing) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    int calls = 0;
    ApiServer server(path, [&](const json& request) {
        ++calls;
        return echo(request);
    });
    server.start();
    const std::string deep =
        "{\"op\":\"get\",\"x\":" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}\n";
    const json answer = parse_answer(send_and_receive(path, deep));
    EXPECT_EQ(answer, json({{"ok", false}, {"error", "malformed request: nested deeper than 32 levels"}}));
    EXPECT_EQ(calls, 0);
    // Brackets inside strings are text, not nesting.
    const std::string text = "{\"op\":\"apply\",\"text\":\"" + std::string(100, '[') + "\\\"[\"}\n";
    EXPECT_EQ(parse_answer(send_and_receive(path, text))["ok"], true);
    EXPECT_EQ(calls, 1);
}

TEST(ApiServer, OversizedRequestGetsAnErrorAnswer) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer::Limits limits;
    limits.max_request_bytes = 4096;
    int calls = 0;
    ApiServer server(
        path,
        [&](const json& request) {
            ++calls;
            return echo(request);
        },
        limits);
    server.start();
    // 4 MiB without a newline: more than the socket buffers hold, so the server answers while the
    // client is still sending.
    const json answer =
        parse_answer(send_and_receive(path, "{\"op\":\"apply\",\"pad\":\"" + std::string(4 << 20, 'x')));
    EXPECT_EQ(answer["ok"], false);
    EXPECT_EQ(answer["error"], "request larger than the limit of 4096 bytes");
    EXPECT_EQ(calls, 0);
    // A request exactly at the limit is served.
    const std::string padded = "{\"pad\":\"" + std::string(4096 - 10, 'y') + "\"}";
    ASSERT_EQ(padded.size(), 4096u);
    EXPECT_EQ(parse_answer(send_and_receive(path, padded + "\n"))["ok"], true);
    EXPECT_EQ(ApiServer::Limits{}.max_request_bytes, size_t{64} << 20);
}

TEST(ApiServer, SlowRequestTimesOut) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer::Limits limits;
    limits.read_timeout = std::chrono::milliseconds(200);
    ApiServer server(path, echo, limits);
    server.start();
    const int fd = connect_unix(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, "{\"op\"", 5, MSG_NOSIGNAL), 5);
    char buffer[512];
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);  // the server answers after 200 ms
    close(fd);
    ASSERT_GT(got, 0);
    const json answer = parse_answer(std::string(buffer, static_cast<size_t>(got)));
    EXPECT_EQ(answer["ok"], false);
    EXPECT_EQ(answer["error"].get<std::string>().rfind("request not complete within 200 ms", 0), 0u) << answer;
}

TEST(ApiServer, HandlerExceptionsBecomeErrorAnswers) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer server(path, [](const json& request) -> json {
        if (request.value("op", "") == "throw") throw std::runtime_error("service default/web: no such service");
        if (request.value("op", "") == "throw-int") throw 42;
        return json::array();  // not an object
    });
    server.start();
    json answer = parse_answer(send_and_receive(path, "{\"op\":\"throw\"}\n"));
    EXPECT_EQ(answer, json({{"ok", false}, {"error", "service default/web: no such service"}}));
    answer = parse_answer(send_and_receive(path, "{\"op\":\"throw-int\"}\n"));
    EXPECT_EQ(answer["ok"], false);
    answer = parse_answer(send_and_receive(path, "{\"op\":\"array\"}\n"));
    EXPECT_EQ(answer["ok"], false);
}

TEST(ApiServer, StopIsPromptWhileAClientIsConnectedAndIdle) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer server(path, echo);  // default 5 s read timeout
    server.start();
    const int idle = connect_unix(path);
    ASSERT_GE(idle, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the server is now reading from it
    const auto started = std::chrono::steady_clock::now();
    server.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
    char byte;
    EXPECT_LE(recv(idle, &byte, 1, 0), 0) << "the idle connection is closed without an answer";
    close(idle);
    EXPECT_NE(access(path.c_str(), F_OK), 0);
    server.stop();  // idempotent
}

TEST(ApiServer, StaleSocketIsReplaced) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    {
        // What a daemon that died leaves behind: a bound socket file nobody listens on.
        const int dead = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
        ASSERT_EQ(bind(dead, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
        close(dead);
    }
    ApiServer server(path, echo);
    server.start();
    EXPECT_EQ(parse_answer(send_and_receive(path, "{\"op\":\"dump\"}\n"))["ok"], true);
}

TEST(ApiServer, RefusesASocketALiveDaemonAnswersOn) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer first(path, echo);
    first.start();
    ApiServer second(path, echo);
    try {
        second.start();
        FAIL() << "a second server took over a live socket";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("another vipgate is serving the API on " + path), std::string::npos)
            << error.what();
    }
    second.stop();  // must not remove the first server's socket
    EXPECT_EQ(parse_answer(send_and_receive(path, "{\"op\":\"dump\"}\n"))["ok"], true);
}

TEST(ApiServer, SetupFailuresSayWhatToFix) {
    TemporaryDirectory directory;
    const std::string file = directory.path() + "/not-a-socket";
    std::ofstream(file) << "x";
    auto start_error = [](const std::string& path) {
        ApiServer server(path, echo);
        try {
            server.start();
        } catch (const std::runtime_error& error) {
            return std::string(error.what());
        }
        return std::string("(started)");
    };
    EXPECT_NE(start_error(file).find("exists and is not a socket"), std::string::npos) << start_error(file);
    EXPECT_NE(start_error(directory.path() + "/" + std::string(120, 'a')).find("must be shorter than 108 bytes"),
              std::string::npos);
    EXPECT_NE(start_error(file + "/api.sock").find("is not a directory"), std::string::npos)
        << start_error(file + "/api.sock");
}

TEST(ApiServer, RequestsAreServedOneAtATime) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    int served = 0;  // only the server thread touches it, and only one request at a time
    ApiServer server(path, [&](const json& request) {
        if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++served;
        inside.fetch_sub(1);
        return echo(request);
    });
    server.start();
    std::vector<std::thread> clients;
    std::atomic<int> answered{0};
    for (int client = 0; client < 4; ++client) {
        clients.emplace_back([&, client] {
            for (int i = 0; i < 10; ++i) {
                const json request = {{"op", "get"}, {"client", client}, {"i", i}};
                if (json::parse(send_and_receive(path, request.dump() + "\n"))["echo"] == request)
                    answered.fetch_add(1);
            }
        });
    }
    for (auto& client : clients) client.join();
    server.stop();
    EXPECT_EQ(answered.load(), 40);
    EXPECT_EQ(served, 40);
    EXPECT_EQ(overlaps.load(), 0);
}

// The time one good request takes from connect to answer.
std::chrono::milliseconds round_trip(const std::string& path, json& answer) {
    const auto started = std::chrono::steady_clock::now();
    answer = parse_answer(send_and_receive(path, "{\"op\":\"get\"}\n"));
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

TEST(ApiServer, IdleClientsDoNotDelayOthers) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer server(path, echo);  // default 5 s read timeout: each idle client could hold 5 s
    server.start();
    std::vector<int> idle;
    for (int i = 0; i < 20; ++i) {
        idle.push_back(connect_unix(path));
        ASSERT_GE(idle.back(), 0);
    }
    ASSERT_EQ(send(idle[0], "{\"op\"", 5, MSG_NOSIGNAL), 5);  // one has sent half a request
    json answer;
    EXPECT_LT(round_trip(path, answer).count(), 500);
    EXPECT_EQ(answer["ok"], true);
    for (int fd : idle) close(fd);
}

TEST(ApiServer, SlowReaderDoesNotDelayOthers) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    const std::string large(32 << 20, 'x');  // far more than the socket buffers hold
    ApiServer server(path, [&](const json& request) -> json {
        if (request.value("op", "") == "dump") return {{"ok", true}, {"text", large}};
        return echo(request);
    });
    server.start();
    const int slow = connect_unix(path);
    ASSERT_GE(slow, 0);
    ASSERT_EQ(send(slow, "{\"op\":\"dump\"}\n", 14, MSG_NOSIGNAL), 14);
    char first[16];
    ASSERT_GT(recv(slow, first, sizeof(first), 0), 0);  // the answer has started; now stop reading
    json answer;
    EXPECT_LT(round_trip(path, answer).count(), 500);
    EXPECT_EQ(answer["ok"], true);
    close(slow);
}

TEST(ApiServer, ConnectionsBeyondTheLimitAreAnsweredBusyAtOnce) {
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/api.sock";
    ApiServer::Limits limits;
    limits.max_clients = 2;
    ApiServer server(path, echo, limits);
    server.start();
    const int first = connect_unix(path);
    const int second = connect_unix(path);
    ASSERT_GE(first, 0);
    ASSERT_GE(second, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // both accepted and being read
    json answer;
    EXPECT_LT(round_trip(path, answer).count(), 500);
    EXPECT_EQ(answer["ok"], false);
    EXPECT_NE(answer["error"].get<std::string>().find("serving 2 connections already"), std::string::npos) << answer;
    close(first);
    close(second);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // their threads finish
    EXPECT_EQ(round_trip(path, answer).count() < 500 && answer["ok"] == true, true) << answer;
}

}  // namespace
}  // namespace vipgate
