// Testbed: host network namespaces joined by a bridge in another namespace, for tests of real
// network partitions (tests/cluster/partition_test.cpp, durable_process_test.cpp). Needs root
// (CAP_NET_ADMIN) and iproute2; ok() says whether it could be built, so that a test can skip
// with the reason. Every address lives inside these namespaces, which are removed on exit.
// Header-only, POSIX.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace mesh::test {

inline std::string ip_binary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// Runs `ip args...`; returns its exit status.
inline int ip(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string binary = ip_binary();
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Three host namespaces on 10.213.X.{1,2,3}/24 behind a bridge namespace; removed on exit.
class Testbed {
 public:
  Testbed() {
    const std::string tag = std::to_string(::getpid() % 100000);
    subnet_ = "10.213." + std::to_string(::getpid() % 250 + 1) + ".";
    bridge_ = "mb" + tag;
    if (ip_binary().empty() || ip({"netns", "add", bridge_}) != 0) return;
    created_.push_back(bridge_);
    ok_ = ip({"netns", "exec", bridge_, "ip", "link", "add", "br0", "type", "bridge"}) == 0 &&
          ip({"netns", "exec", bridge_, "ip", "link", "set", "br0", "up"}) == 0;
    for (int i = 1; ok_ && i <= 3; ++i) {
      const std::string host = "mh" + tag + "-" + std::to_string(i);
      const std::string a = "ma" + tag + std::to_string(i), b = "mz" + tag + std::to_string(i);
      ok_ = ip({"netns", "add", host}) == 0;
      if (!ok_) break;
      created_.push_back(host);
      hosts_.push_back(host);
      links_.push_back(b);
      ok_ = ip({"link", "add", a, "type", "veth", "peer", "name", b}) == 0 &&
            ip({"link", "set", a, "netns", host}) == 0 && ip({"link", "set", b, "netns", bridge_}) == 0 &&
            ip({"netns", "exec", host, "ip", "addr", "add", address(i) + "/24", "dev", a}) == 0 &&
            ip({"netns", "exec", host, "ip", "link", "set", a, "up"}) == 0 &&
            ip({"netns", "exec", host, "ip", "link", "set", "lo", "up"}) == 0 &&
            ip({"netns", "exec", bridge_, "ip", "link", "set", b, "master", "br0"}) == 0 &&
            ip({"netns", "exec", bridge_, "ip", "link", "set", b, "up"}) == 0;
    }
  }
  ~Testbed() {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) ip({"netns", "del", *it});
  }
  bool ok() const { return ok_; }
  std::string address(int i) const { return subnet_ + std::to_string(i); }
  const std::string& host(int i) const { return hosts_[i - 1]; }
  const std::string& bridge() const { return bridge_; }  // the namespace holding br0
  // Takes host i's link down (partition) or up (heal).
  bool link(int i, bool up) {
    return ip({"netns", "exec", bridge_, "ip", "link", "set", links_[i - 1], up ? "up" : "down"}) == 0;
  }

 private:
  bool ok_ = false;
  std::string subnet_, bridge_;
  std::vector<std::string> created_, hosts_, links_;
};

}  // namespace mesh::test
