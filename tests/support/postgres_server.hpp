// PostgresServer: a private PostgreSQL (Debian's postgresql-15) for tests, in a temporary
// directory, listening only on a unix socket in that directory. Header-only, POSIX; a test that
// includes it links libpq (PostgreSQL::PostgreSQL).
//
//   PostgresServer& server = shared_postgres_server();  // one per test executable
//   auto store = postgres_store(server.conninfo(server.create_database()));
//
// Tests that stop and start the server make their own instance. initdb and postgres refuse to
// run as root, so as root every tool runs as the user "postgres" (runuser). A watchdog process
// stops the server and removes the directory when the test process ends, however it ends.
#pragma once

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mesh::test {

class PostgresServer {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates the directory, runs initdb (trust authentication, superuser "mesh") and starts the
  // server with `settings` added ("name=value" each). Throws std::runtime_error naming the step
  // and showing the logs' tails when a step fails or overruns its bound.
  explicit PostgresServer(std::vector<std::string> settings = {}) : settings_(std::move(settings)) {
    bin_ = find_bin_dir();
    char pattern[] = "/tmp/mesh-pg-XXXXXX";
    if (::mkdtemp(pattern) == nullptr)
      throw std::runtime_error("postgres test server: mkdtemp failed");
    dir_ = pattern;
    try {
      start_watchdog();
      if (::geteuid() == 0) {
        const passwd* user = ::getpwnam("postgres");
        if (user == nullptr || ::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) {
          throw std::runtime_error("postgres test server: no user 'postgres' to run as (root)");
        }
        as_postgres_ = {"/usr/sbin/runuser", "-u", "postgres", "--"};
      }
      static std::atomic<int> instances{0};
      port_ = 20000 + (static_cast<int>(::getpid()) * 7 + instances++) % 40000;
      tool({bin_ + "/initdb", "-D", data(), "-A", "trust", "-U", "mesh", "-E", "UTF8", "--locale=C",
            "--no-sync"},
           std::chrono::seconds(60), "initdb");
      start();
    } catch (...) {
      shut_down();
      throw;
    }
  }

  ~PostgresServer() { shut_down(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=" + dir_ + " port=" + std::to_string(port_) + " user=mesh dbname=" + dbname;
  }
  const std::string& directory() const { return dir_; }  // also the unix socket's directory
  int port() const { return port_; }
  bool running() const { return running_; }

  // Starts the server on the same data (after stop()); returns once it accepts connections.
  void start() {
    std::string options = "-k " + dir_ + " -p " + std::to_string(port_) + " -c listen_addresses=''";
    for (const std::string& setting : settings_) options += " -c " + setting;
    tool({bin_ + "/pg_ctl", "-D", data(), "-o", options, "-l", dir_ + "/server.log", "-w", "-t",
          "30", "start"},
         std::chrono::seconds(40), "pg_ctl start");
    running_ = true;
  }

  // Fast shutdown: clients' connections are closed and new ones refused until start().
  void stop() {
    tool({bin_ + "/pg_ctl", "-D", data(), "-m", "fast", "-w", "-t", "30", "stop"},
         std::chrono::seconds(40), "pg_ctl stop");
    running_ = false;
  }

  // Runs SQL (several statements allowed) as the superuser and returns the first value of the
  // last statement's result ("" when it has none); throws with the server's message.
  std::string execute(const std::string& sql, const std::string& dbname = "postgres") const {
    const std::unique_ptr<PGconn, decltype(&PQfinish)> conn(
        PQconnectdb((conninfo(dbname) + " connect_timeout=10").c_str()), &PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      throw std::runtime_error("cannot connect to the test server: " +
                               std::string(PQerrorMessage(conn.get())));
    }
    const std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()),
                                                               &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("'" + sql + "' failed: " + PQresultErrorMessage(result.get()));
    }
    return PQntuples(result.get()) > 0 ? PQgetvalue(result.get(), 0, 0) : "";
  }

  // A new empty database with a name unique on this server.
  std::string create_database() {
    const std::string name = "test_" + std::to_string(++databases_);
    execute("CREATE DATABASE " + name);
    return name;
  }

 private:
  static std::string find_bin_dir() {
    if (const char* dir = std::getenv("MESH_PG_BINDIR")) return dir;
    for (const char* version : {"17", "16", "15"}) {
      const std::string dir = std::string("/usr/lib/postgresql/") + version + "/bin";
      if (::access((dir + "/pg_ctl").c_str(), X_OK) == 0) return dir;
    }
    throw std::runtime_error(
        "PostgreSQL's server programs are missing (postgresql-15): run scripts/install-deps.sh");
  }

  std::string data() const { return dir_ + "/data"; }

  void shut_down() {
    if (running_) {
      tool_status({bin_ + "/pg_ctl", "-D", data(), "-m", "immediate", "-w", "-t", "20", "stop"},
                  std::chrono::seconds(30));
      running_ = false;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    if (watchdog_ > 0) {
      ::close(watchdog_pipe_);  // the watchdog finds nothing left to do and exits
      wait_child(watchdog_, std::chrono::seconds(5));
      watchdog_ = -1;
    }
  }

  // A shell that waits for the end of this process (EOF on a pipe only this process holds)
  // and then stops the server and removes the directory, in case no destructor ran.
  void start_watchdog() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0)
      throw std::runtime_error("postgres test server: pipe failed");
    const std::string script =
        "trap '' INT TERM HUP QUIT; cat >/dev/null; dir=$1; pg_ctl=$2; shift 2; "
        "if [ -f \"$dir/data/postmaster.pid\" ]; then "
        "\"$@\" \"$pg_ctl\" -D \"$dir/data\" -m immediate -w -t 20 stop; fi; rm -rf \"$dir\"";
    std::vector<std::string> argv{"/bin/sh",           "-c", script,
                                  "postgres-watchdog", dir_, bin_ + "/pg_ctl"};
    if (::geteuid() == 0) argv.insert(argv.end(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
    watchdog_ = spawn(argv, "/dev/null", ends[0]);
    ::close(ends[0]);
    watchdog_pipe_ = ends[1];
  }

  // Starts argv with stdin from `input` (or /dev/null) and its output appended to `log`, in
  // its own process group so that a timeout can kill all it started.
  static pid_t spawn(const std::vector<std::string>& args, const std::string& log, int input = -1) {
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(input >= 0 ? input : null, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(null);
    if (pid < 0) throw std::runtime_error("postgres test server: fork failed");
    return pid;
  }

  // The child's exit status, or -1 after killing its process group at the deadline.
  static int wait_child(pid_t pid, std::chrono::seconds limit) {
    const auto until = Clock::now() + limit;
    for (;;) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (Clock::now() > until) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  int tool_status(std::vector<std::string> argv, std::chrono::seconds limit) const {
    argv.insert(argv.begin(), as_postgres_.begin(), as_postgres_.end());
    return wait_child(spawn(argv, dir_ + "/tools.log"), limit);
  }

  void tool(std::vector<std::string> argv, std::chrono::seconds limit, const std::string& step) {
    const int status = tool_status(std::move(argv), limit);
    if (status != 0) {
      throw std::runtime_error(
          "postgres test server: " + step +
          (status < 0 ? " overran its bound" : " exited with " + std::to_string(status)) +
          "\n--- tools.log\n" + tail(dir_ + "/tools.log") + "\n--- server.log\n" +
          tail(dir_ + "/server.log"));
    }
  }

  static std::string tail(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
  }

  std::vector<std::string> settings_;
  std::vector<std::string> as_postgres_;  // the runuser prefix when this process is root
  std::string bin_, dir_;
  int port_ = 0;
  bool running_ = false;
  int databases_ = 0;
  pid_t watchdog_ = -1;
  int watchdog_pipe_ = -1;
};

// The server shared by the tests of one executable: started on first use, stopped at exit.
inline PostgresServer& shared_postgres_server() {
  static PostgresServer server;
  return server;
}

}  // namespace mesh::test
