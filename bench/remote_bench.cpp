// Remote-call figures of docs/benchmarks.md: the loopback TCP floor, a blocking remote call,
// and pipelined async_calls between two nodes: this process and a forked owner process, over
// loopback TCP.
//
// With --tls both nodes use TLS 1.3 (certificates made by the openssl command in a temporary
// directory, as the tests make them); the floor stays plaintext TCP.
//
//   remote_bench [--quick] [--tls]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench_actors.hpp"
#include "support/test_certs.hpp"

namespace {

using Clock = std::chrono::steady_clock;
bool quick = false;
mesh::test::TestCerts* certs = nullptr;  // set with --tls

struct Percentiles {
  double p50, p99;
};

Percentiles percentiles(std::vector<std::uint32_t>& ns) {
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0};
}

bool read_full(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::recv(fd, data, size, 0);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The owner side runs in a child process, as a remote node would: a raw echo server for the
// floor and an owner node. It reports both ports on a pipe and serves until killed.
struct Child {
  pid_t pid;
  unsigned short echo_port;
  std::string node_address;
};

int listen_loopback(unsigned short& port) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::listen(listener, 1);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return listener;
}

mesh::NodeOptions options(std::string name, std::vector<std::string> seeds);

Child start_child() {
  int report[2];
  if (::pipe(report) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    unsigned short echo_port = 0;
    const int listener = listen_loopback(echo_port);
    mesh::Node owner(options("owner", {}));
    owner.register_actor<bench::ScoreActor>("Score");
    owner.register_capabilities({"game"});
    const std::string line = std::to_string(echo_port) + " " + owner.listen_address() + "\n";
    if (::write(report[1], line.data(), line.size()) < 0) std::_Exit(1);
    const int fd = ::accept(listener, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[64];
    while (read_full(fd, buffer, sizeof buffer)) ::send(fd, buffer, sizeof buffer, 0);
    for (;;) ::pause();  // keep serving the node until the parent kills us
  }
  ::close(report[1]);
  char text[256] = {};
  std::size_t got = 0;
  while (got < sizeof text - 1 && (got == 0 || text[got - 1] != '\n')) {
    const ssize_t n = ::read(report[0], text + got, sizeof text - 1 - got);
    if (n <= 0) std::exit(1);
    got += static_cast<std::size_t>(n);
  }
  ::close(report[0]);
  char address[200] = {};
  unsigned port = 0;
  std::sscanf(text, "%u %199s", &port, address);
  return Child{pid, static_cast<unsigned short>(port), address};
}

// 64-byte blocking ping-pong with the child over 127.0.0.1: the floor for a remote call.
Percentiles tcp_floor(unsigned short port, std::size_t rounds) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<std::uint32_t> ns(rounds);
  char buffer[64] = {};
  for (std::size_t i = 0; i < rounds; ++i) {
    const auto t0 = Clock::now();
    ::send(fd, buffer, sizeof buffer, 0);
    read_full(fd, buffer, sizeof buffer);
    ns[i] = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  ::close(fd);
  return percentiles(ns);
}

mesh::NodeOptions options(std::string name, std::vector<std::string> seeds) {
  mesh::NodeOptions options{.name = std::move(name), .listen = "127.0.0.1:0",
                            .seeds = std::move(seeds), .cookie = "bench",
                            .log = [](mesh::LogLevel, std::string_view) {}};
  if (certs) options.tls = certs->options(options.name, "ca");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  bool tls = false;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    tls = tls || std::strcmp(argv[i], "--tls") == 0;
  }
  std::unique_ptr<mesh::test::TestCerts> tls_certs;
  if (tls) {
    tls_certs = std::make_unique<mesh::test::TestCerts>();
    tls_certs->make_ca("ca");
    for (const char* name : {"owner", "caller"}) tls_certs->make_node(name, "ca");
    certs = tls_certs.get();
  }
  const std::size_t rounds = quick ? 5'000 : 50'000;
  std::printf("mesh remote-call benchmark (%u hardware threads)%s%s\n",
              std::thread::hardware_concurrency(), quick ? " [quick]" : "",
              tls ? " [TLS 1.3 between the nodes]" : "");

  const Child child = start_child();
  const Percentiles floor = tcp_floor(child.echo_port, rounds);
  std::printf("floor: raw 64-byte TCP ping-pong over loopback: p50 %.1f us, p99 %.1f us\n",
              floor.p50, floor.p99);

  mesh::Node caller(options("caller", {child.node_address}));
  while (caller.nodes_for("game").size() != 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  constexpr std::size_t kActors = 1000;
  for (std::size_t i = 0; i < kActors; ++i) (void)caller.call(bench::score_request(bench::actor_id(i)));

  std::vector<std::uint32_t> ns(rounds);
  for (std::size_t i = 0; i < rounds; ++i) {
    mesh::Request request = bench::score_request(bench::actor_id(i % kActors));
    const auto t0 = Clock::now();
    auto reply = caller.call(std::move(request));
    ns[i] = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    if (!reply) {
      std::fprintf(stderr, "remote call failed: %s\n", mesh::to_string(reply.error()).c_str());
      return 1;
    }
  }
  const Percentiles remote = percentiles(ns);
  std::printf("remote call, 1 blocking caller: p50 %.1f us (%.2fx floor), p99 %.1f us\n",
              remote.p50, remote.p50 / floor.p50, remote.p99);

  constexpr std::size_t kWindow = 1000;
  const std::size_t calls = quick ? 100'000 : 1'000'000;
  std::atomic<std::size_t> in_flight{0}, done{0}, failed{0};
  const auto start = Clock::now();
  for (std::size_t i = 0; i < calls; ++i) {
    // Sleep (not spin) while the window is full, and refill it once half of it has been
    // answered: on 2 cores a client spinning, or woken for every reply, would take the CPU the
    // nodes' threads need.
    for (std::size_t now = in_flight.load(); now >= kWindow; now = in_flight.load()) in_flight.wait(now);
    in_flight.fetch_add(1, std::memory_order_relaxed);
    caller.async_call(bench::score_request(bench::actor_id(i % kActors)), [&](mesh::Result<mesh::Reply> r) {
      if (!r) failed.fetch_add(1, std::memory_order_relaxed);
      done.fetch_add(1, std::memory_order_relaxed);
      if (in_flight.fetch_sub(1, std::memory_order_release) == kWindow / 2 + 1) in_flight.notify_one();
    });
  }
  while (done.load() < calls) std::this_thread::sleep_for(std::chrono::microseconds(100));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("pipelined async_call, %zu in flight, two nodes: %.0f calls/s (%zu failed)\n", kWindow,
              calls / seconds, failed.load());
  ::kill(child.pid, SIGKILL);
  ::waitpid(child.pid, nullptr, 0);
  return failed.load() == 0 ? 0 : 1;
}
