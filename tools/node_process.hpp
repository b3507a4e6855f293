// NodeProcess: starts a mesh_node process and talks to it over its --commands pipe.
// Used by the demo and the multi-process tests; header-only, POSIX.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tools {

class NodeProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts `[wrapper...] binary --commands args...` and waits (bounded) for its
  // "ready NAME LISTEN" line. `wrapper` runs the node through another program, e.g.
  // {"/usr/sbin/ip", "netns", "exec", "ns1"} to start it inside a network namespace.
  NodeProcess(const std::string& binary, const std::vector<std::string>& args,
              std::chrono::milliseconds ready_within = std::chrono::seconds(10),
              const std::vector<std::string>& wrapper = {}) {
    ::signal(SIGPIPE, SIG_IGN);  // a node that died must not take its driver with it
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    char log_template[] = "/tmp/mesh_node_log_XXXXXX";
    const int log_fd = ::mkstemp(log_template);
    log_path_ = log_template;
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::dup2(log_fd, 2);
      ::close(to_child[1]);
      ::close(from_child[0]);
      std::vector<char*> argv;
      for (const std::string& w : wrapper) argv.push_back(const_cast<char*>(w.c_str()));
      argv.push_back(const_cast<char*>(binary.c_str()));
      argv.push_back(const_cast<char*>("--commands"));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv.front(), argv.data());
      std::_Exit(127);
    }
    ::close(log_fd);
    ::close(to_child[0]);
    ::close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
    const std::string ready = read_line(ready_within);
    std::istringstream words(ready);
    std::string tag;
    words >> tag >> name_ >> listen_ >> http_;  // http_: only with --http
    if (tag != "ready") {
      kill9();
      throw std::runtime_error("node did not start: '" + ready + "'; log: " + log());
    }
  }

  ~NodeProcess() {
    if (running()) kill9();
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    ::unlink(log_path_.c_str());
  }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  const std::string& name() const { return name_; }
  const std::string& listen() const { return listen_; }
  const std::string& http() const { return http_; }  // "host:port", empty without --http
  pid_t pid() const { return pid_; }
  bool running() const { return !exited_; }

  // Sends one command line and returns its one-line answer ("" if none came in time).
  std::string command(const std::string& line,
                      std::chrono::milliseconds within = std::chrono::seconds(10)) {
    std::lock_guard lock(mutex_);
    const std::string text = line + "\n";
    if (::write(in_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "";
    return read_line(within);
  }

  // SIGTERM, then waits up to `within` for a clean exit; returns the exit status (-1: had to
  // be killed).
  int terminate(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    ::kill(pid_, SIGTERM);
    const int status = wait_exit(within);
    if (status == -1) kill9();
    return status;
  }

  void kill9() {
    if (exited_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  int wait_exit(std::chrono::milliseconds within) {
    const auto until = Clock::now() + within;
    while (Clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(2000);
    }
    return -1;
  }

  std::string read_line(std::chrono::milliseconds within) {
    const auto until = Clock::now() + within;
    for (;;) {
      if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return "";
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  bool exited_ = false;
  std::string buffer_;
  std::string name_, listen_, http_, log_path_;
  std::mutex mutex_;
};

}  // namespace tools
