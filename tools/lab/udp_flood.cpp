// udp_flood: the lab's UDP load, one-way. Sends SIZE-byte datagrams to HOST:PORT from SOCKETS
// sockets (one source port each, so a gateway sees SOCKETS flows) with sendmmsg, as fast as the
// kernel takes them, for SECONDS. Prints "sent N". What arrives is counted by the receivers.
//
//   udp_flood HOST PORT SECONDS [SOCKETS=64] [SIZE=64]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: udp_flood HOST PORT SECONDS [SOCKETS] [SIZE]\n");
        return 2;
    }
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
    if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) {
        std::fprintf(stderr, "udp_flood: bad address %s\n", argv[1]);
        return 2;
    }
    const double seconds = std::atof(argv[3]);
    const int socket_count = argc > 4 ? std::atoi(argv[4]) : 64;
    const size_t size = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 64;
    constexpr int kBatch = 32;

    std::vector<int> sockets;
    for (int i = 0; i < socket_count; ++i) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
            std::perror("udp_flood: socket/connect");
            return 1;
        }
        sockets.push_back(fd);
    }
    std::vector<char> payload(size, 'x');
    iovec iov{payload.data(), payload.size()};
    std::vector<mmsghdr> messages(kBatch);
    for (auto& message : messages) {
        message.msg_hdr.msg_iov = &iov;
        message.msg_hdr.msg_iovlen = 1;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    unsigned long long sent = 0;
    for (size_t round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
        int n = sendmmsg(sockets[round % sockets.size()], messages.data(), kBatch, 0);
        if (n > 0) sent += static_cast<unsigned long long>(n);
    }
    std::printf("sent %llu\n", sent);
    for (int fd : sockets) close(fd);
    return 0;
}
