// Remote-call figures of docs/benchmarks.md between two nodes, this process and a forked owner
// process, over loopback TCP: a blocking remote call against a raw blocking TCP ping-pong (the
// floor), 64 blocking callers against 64 raw blocking TCP callers with a connection each (the
// wire's figure for them), and pipelined async_calls against a raw TCP echo of 64-byte
// messages with the same window (the wire's ceiling). All measured in the same run. The
// throughput phases also print the CPU time both nodes used per call.
//
// With --tls both nodes use TLS 1.3 (certificates made by the openssl command in a temporary
// directory, as the tests make them); the floor stays plaintext TCP.
//
// The last phase leaves both nodes without calls for 10 s and prints the CPU they use and how
// often their threads wake.
//
//   remote_bench [--quick] [--tls] [--only call|callers|pipelined|idle]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
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
  unsigned short many_port;  // the echo server for many connections at once
  std::string node_address;
};

int listen_loopback(unsigned short& port, int backlog = 1) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::listen(listener, backlog);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return listener;
}

mesh::NodeOptions options(std::string name, std::vector<std::string> seeds);

// One thread echoing every connection it accepts through epoll, as a node's IO thread serves
// its links: the server side of the raw 64-caller figure.
void echo_many(int listener) {
  const int poll = ::epoll_create1(0);
  epoll_event watch{};
  watch.events = EPOLLIN;
  watch.data.fd = listener;
  ::epoll_ctl(poll, EPOLL_CTL_ADD, listener, &watch);
  std::vector<char> buffer(64 * 1024);
  epoll_event ready[128];
  for (;;) {
    const int n = ::epoll_wait(poll, ready, 128, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = ready[i].data.fd;
      if (fd == listener) {
        const int peer = ::accept(listener, nullptr, nullptr);
        if (peer < 0) continue;
        const int one = 1;
        ::setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        watch.data.fd = peer;
        ::epoll_ctl(poll, EPOLL_CTL_ADD, peer, &watch);
        continue;
      }
      const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (got <= 0) {
        ::close(fd);  // also leaves the epoll set
        continue;
      }
      for (ssize_t sent = 0; sent < got;) {
        const ssize_t w = ::send(fd, buffer.data() + sent, static_cast<std::size_t>(got - sent), 0);
        if (w <= 0) break;
        sent += w;
      }
    }
  }
}

Child start_child() {
  int report[2];
  if (::pipe(report) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    unsigned short echo_port = 0;
    const int listener = listen_loopback(echo_port);
    unsigned short many_port = 0;
    const int many = listen_loopback(many_port, 128);
    std::thread([many] { echo_many(many); }).detach();
    mesh::Node owner(options("owner", {}));
    owner.register_actor<bench::ScoreActor>("Score");
    owner.register_capabilities({"game"});
    const std::string line = std::to_string(echo_port) + " " + std::to_string(many_port) + " " +
                             owner.listen_address() + "\n";
    if (::write(report[1], line.data(), line.size()) < 0) std::_Exit(1);
    // Echo whatever arrives, one connection after the other: a 64-byte ping-pong is answered
    // with one send per message, a pipelined window with one send per read.
    std::vector<char> buffer(64 * 1024);
    for (;;) {
      const int fd = ::accept(listener, nullptr, nullptr);
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      for (ssize_t n; (n = ::recv(fd, buffer.data(), buffer.size(), 0)) > 0;) {
        for (ssize_t sent = 0; sent < n;) {
          const ssize_t w = ::send(fd, buffer.data() + sent, static_cast<std::size_t>(n - sent), 0);
          if (w <= 0) break;
          sent += w;
        }
      }
      ::close(fd);
    }
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
  unsigned port = 0, many_port = 0;
  std::sscanf(text, "%u %u %199s", &port, &many_port, address);
  return Child{pid, static_cast<unsigned short>(port), static_cast<unsigned short>(many_port),
               address};
}

int connect_loopback(unsigned short port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// 64-byte blocking ping-pong with the child over 127.0.0.1: the floor for a remote call.
Percentiles tcp_floor(unsigned short port, std::size_t rounds) {
  const int fd = connect_loopback(port);
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

// The wire's ceiling for pipelining: 64-byte messages echoed by the child with up to `window`
// in flight, refilled once half of them came back (as the pipelined calls below are), each
// refill in one send. Returns messages per second.
double tcp_echo_ceiling(unsigned short port, std::size_t messages, std::size_t window) {
  const int fd = connect_loopback(port);
  std::vector<char> out(window * 64, 'x'), in(64 * 1024);
  std::size_t sent = 0, received_bytes = 0;
  const auto start = Clock::now();
  while (received_bytes < messages * 64) {
    const std::size_t in_flight = sent - received_bytes / 64;
    if (sent < messages && in_flight <= window / 2) {
      const std::size_t batch = std::min(window - in_flight, messages - sent);
      for (std::size_t off = 0; off < batch * 64;) {
        const ssize_t n = ::send(fd, out.data() + off, batch * 64 - off, 0);
        if (n <= 0) std::exit(1);
        off += static_cast<std::size_t>(n);
      }
      sent += batch;
    }
    const ssize_t n = ::recv(fd, in.data(), in.size(), 0);
    if (n <= 0) std::exit(1);
    received_bytes += static_cast<std::size_t>(n);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return messages / seconds;
}

// CPU seconds (user + system) a process has used so far, from /proc: wall-clock figures on a
// shared 2-core VM move by a factor of two from run to run, CPU time per call far less.
double cpu_seconds(pid_t pid) {
  std::FILE* file = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!file) return 0;
  char text[1024] = {};
  const std::size_t n = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  text[n] = 0;
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const char* p = std::strrchr(text, ')');
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// How many times a process's threads have been switched out so far (each a sleep or a
// preemption, so each later wake-up), summed over /proc/PID/task/*/status.
// Context switches of each thread of `pid`, by thread id.
std::map<std::string, long> context_switches(pid_t pid) {
  std::map<std::string, long> by_thread;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::FILE* file = std::fopen((task.path() / "status").c_str(), "r");
    if (!file) continue;  // the thread ended meanwhile
    long total = 0;
    char line[256];
    while (std::fgets(line, sizeof line, file)) {
      long n = 0;
      if (std::sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
          std::sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1) {
        total += n;
      }
    }
    std::fclose(file);
    by_thread[task.path().filename().string()] = total;
  }
  return by_thread;
}

// Context switches of `pid`'s threads since `before`. Per thread, so that a thread that ends in
// between (an extra worker retiring after the busy phases) does not take its earlier switches
// out of the sum and make it negative; what such a thread did in between is not counted.
long context_switches_since(pid_t pid, const std::map<std::string, long>& before) {
  long total = 0;
  for (const auto& [thread, now] : context_switches(pid)) {
    const auto then = before.find(thread);
    total += now - (then == before.end() ? 0 : then->second);
  }
  return total;
}

// CPU time of both nodes (this process and the owner) per call over a phase.
struct CpuMeter {
  pid_t child;
  double start = cpu_seconds(::getpid()) + cpu_seconds(child);
  double per_call_us(std::size_t calls) const {
    return (cpu_seconds(::getpid()) + cpu_seconds(child) - start) * 1e6 /
           static_cast<double>(calls);
  }
};

// The wire's own figure for many blocking callers: `callers` threads, each with a connection
// of its own to the child's epoll echo thread, each sending 64 bytes and blocking until they
// are back, `per_caller` times. Every round trip wakes its caller once, as a remote call does.
// Returns round trips per second and the CPU both processes spent per round trip.
std::pair<double, double> tcp_blocking_callers(pid_t child, unsigned short port,
                                               std::size_t callers, std::size_t per_caller) {
  std::vector<int> fds;
  for (std::size_t t = 0; t < callers; ++t) fds.push_back(connect_loopback(port));
  const CpuMeter cpu{child};
  const auto begin = Clock::now();
  std::vector<std::thread> threads;
  for (const int fd : fds) {
    threads.emplace_back([fd, per_caller] {
      char buffer[64] = {};
      for (std::size_t i = 0; i < per_caller; ++i) {
        if (::send(fd, buffer, sizeof buffer, 0) != sizeof buffer) std::exit(1);
        if (!read_full(fd, buffer, sizeof buffer)) std::exit(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const std::size_t total = callers * per_caller;
  const double cpu_us = cpu.per_call_us(total);
  for (const int fd : fds) ::close(fd);
  return {static_cast<double>(total) / seconds, cpu_us};
}

mesh::NodeOptions options(std::string name, std::vector<std::string> seeds) {
  mesh::NodeOptions options{.name = std::move(name), .listen = "127.0.0.1:0",
                            .seeds = std::move(seeds), .cookie = "bench",
                            .log = [](mesh::LogLevel, std::string_view) {}};
  if (certs) options.tls = certs->options(options.name, "ca");
  return options;
}

// Phases: the floor and the blocking call (`call`), 64 blocking callers (`callers`), the
// ceiling and pipelined calls (`pipelined`), nothing at all (`idle`); --only PHASE runs one.
int run(const Child& child, mesh::Node& caller, const std::string& only) {
  const bool all = only.empty();
  constexpr std::size_t kActors = 1000;
  for (std::size_t i = 0; i < kActors; ++i)
    (void)caller.call(bench::score_request(bench::actor_id(i)));

  if (all || only == "call") {
    const std::size_t rounds = quick ? 5'000 : 50'000;
    const Percentiles floor = tcp_floor(child.echo_port, rounds);
    std::printf("floor: raw 64-byte TCP ping-pong over loopback: p50 %.1f us, p99 %.1f us\n",
                floor.p50, floor.p99);
    std::vector<std::uint32_t> ns(rounds);
    for (std::size_t i = 0; i < rounds; ++i) {
      mesh::Request request = bench::score_request(bench::actor_id(i % kActors));
      const auto t0 = Clock::now();
      auto reply = caller.call(std::move(request));
      ns[i] = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      if (!reply) {
        std::fprintf(stderr, "remote call failed: %s\n", mesh::to_string(reply.error()).c_str());
        return 1;
      }
    }
    const Percentiles remote = percentiles(ns);
    std::printf("remote call, 1 blocking caller: p50 %.1f us (%.2fx floor), p99 %.1f us\n",
                remote.p50, remote.p50 / floor.p50, remote.p99);
  }

  if (all || only == "callers") {
    // 64 threads, each calling in a loop, for a fixed number of calls each.
    constexpr std::size_t kCallers = 64;
    const std::size_t per_caller = quick ? 500 : 5'000;
    const auto [raw_rate, raw_cpu] =
        tcp_blocking_callers(child.pid, child.many_port, kCallers, per_caller);
    std::printf(
        "wire: raw TCP, %zu blocking callers, a connection each, 64-byte echo: %.0f round "
        "trips/s, %.1f us CPU per round trip\n",
        kCallers, raw_rate, raw_cpu);
    std::atomic<std::size_t> failed{0};
    std::vector<std::thread> callers;
    const CpuMeter cpu{child.pid};
    const auto begin = Clock::now();
    for (std::size_t t = 0; t < kCallers; ++t) {
      callers.emplace_back([&, t] {
        for (std::size_t i = 0; i < per_caller; ++i) {
          if (!caller.call(bench::score_request(bench::actor_id((t * 7919 + i) % kActors)))) {
            failed.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    for (auto& thread : callers) thread.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    std::printf(
        "remote calls, %zu blocking callers: %.0f calls/s (%zu failed), %.1f us CPU per call\n",
        kCallers, kCallers * per_caller / seconds, failed.load(),
        cpu.per_call_us(kCallers * per_caller));
    if (failed.load() != 0) return 1;
  }

  if (all || only == "pipelined") {
    constexpr std::size_t kWindow = 1000;
    const std::size_t calls = quick ? 100'000 : 1'000'000;
    const double ceiling = tcp_echo_ceiling(child.echo_port, calls, kWindow);
    std::printf("ceiling: raw TCP echo of 64-byte messages, %zu in flight: %.0f messages/s\n",
                kWindow, ceiling);
    std::atomic<std::size_t> in_flight{0}, done{0}, failed{0};
    const CpuMeter cpu{child.pid};
    const auto start = Clock::now();
    for (std::size_t i = 0; i < calls; ++i) {
      // Sleep (not spin) while the window is full, and refill it once half of it has been
      // answered: on 2 cores a client spinning, or woken for every reply, would take the CPU
      // the nodes' threads need.
      for (std::size_t now = in_flight.load(); now >= kWindow; now = in_flight.load())
        in_flight.wait(now);
      in_flight.fetch_add(1, std::memory_order_relaxed);
      caller.async_call(bench::score_request(bench::actor_id(i % kActors)),
                        [&](mesh::Result<mesh::Reply> r) {
                          if (!r) failed.fetch_add(1, std::memory_order_relaxed);
                          done.fetch_add(1, std::memory_order_relaxed);
                          if (in_flight.fetch_sub(1, std::memory_order_release) == kWindow / 2 + 1)
                            in_flight.notify_one();
                        });
    }
    while (done.load() < calls) std::this_thread::sleep_for(std::chrono::microseconds(100));
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "pipelined async_call, %zu in flight, two nodes: %.0f calls/s (%.3fx ceiling, %zu failed), "
        "%.1f us CPU per call\n",
        kWindow, calls / seconds, calls / seconds / ceiling, failed.load(), cpu.per_call_us(calls));
    if (failed.load() != 0) return 1;
  }

  if (all || only == "idle") {
    // What the two nodes cost while nobody calls: nothing polls, so only heartbeats and the
    // nodes' timers (the reconciler, idle checks) wake them.
    const auto quiet = std::chrono::seconds(quick ? 3 : 10);
    const double seconds = std::chrono::duration<double>(quiet).count();
    const double cpu_caller = cpu_seconds(::getpid()), cpu_owner = cpu_seconds(child.pid);
    const auto switches_caller = context_switches(::getpid());
    const auto switches_owner = context_switches(child.pid);
    std::this_thread::sleep_for(quiet);
    std::printf(
        "idle: two nodes with %zu actors, nothing called for %.0f s: %.2f%% and %.2f%% of a "
        "core, %.0f and %.0f wake-ups/s (caller, owner)\n",
        kActors, seconds, (cpu_seconds(::getpid()) - cpu_caller) * 100 / seconds,
        (cpu_seconds(child.pid) - cpu_owner) * 100 / seconds,
        static_cast<double>(context_switches_since(::getpid(), switches_caller)) / seconds,
        static_cast<double>(context_switches_since(child.pid, switches_owner)) / seconds);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool tls = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    tls = tls || std::strcmp(argv[i], "--tls") == 0;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  if (!only.empty() && only != "call" && only != "callers" && only != "pipelined" &&
      only != "idle") {
    std::fprintf(stderr, "remote_bench: --only takes call, callers, pipelined or idle\n");
    return 2;
  }
  std::unique_ptr<mesh::test::TestCerts> tls_certs;
  if (tls) {
    tls_certs = std::make_unique<mesh::test::TestCerts>();
    tls_certs->make_ca("ca");
    for (const char* name : {"owner", "caller"}) tls_certs->make_node(name, "ca");
    certs = tls_certs.get();
  }
  std::printf("mesh remote-call benchmark (%u hardware threads)%s%s\n",
              std::thread::hardware_concurrency(), quick ? " [quick]" : "",
              tls ? " [TLS 1.3 between the nodes]" : "");

  const Child child = start_child();
  int rc = 0;
  {
    mesh::Node caller(options("caller", {child.node_address}));
    while (caller.nodes_for("game").size() != 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rc = run(child, caller, only);
  }
  ::kill(child.pid, SIGKILL);
  ::waitpid(child.pid, nullptr, 0);
  return rc;
}
