// meshctl against a running cluster of three node processes (tools/mesh_node with --http and a
// token): every command's output, --json, and the exit codes that say what failed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mesh/value.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "node_process.hpp"

namespace mesh::test {
namespace {

using namespace std::chrono_literals;
using tools::NodeProcess;

const std::string kNodeBinary = MESH_NODE_BINARY;
const std::string kMeshctl = MESHCTL_BINARY;
const std::string kToken = "ops-token";

struct CtlRun {
  int exit = -1;  // -1: it did not end within its bound and was killed
  std::string out, err;
  Value json() const { return Value::parse(out, nullptr, false); }
  std::vector<std::vector<std::string>> rows() const {  // whitespace-separated cells per line
    std::vector<std::vector<std::string>> out_rows;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::vector<std::string> row;
      for (std::string word; words >> word;) row.push_back(word);
      out_rows.push_back(std::move(row));
    }
    return out_rows;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs meshctl with `args` and only the environment variables in `env` of its own
// (MESH_NODE and MESH_HTTP_TOKEN are cleared otherwise); bounded by `within`.
CtlRun meshctl(const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {},
               std::chrono::milliseconds within = 20s) {
  char out_path[] = "/tmp/meshctl_out_XXXXXX";
  char err_path[] = "/tmp/meshctl_err_XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::unsetenv("MESH_NODE");
    ::unsetenv("MESH_HTTP_TOKEN");
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(kMeshctl.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv.front(), argv.data());
    std::_Exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  CtlRun run;
  const auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      run.exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return run;
}

// A port nothing listens on: bound once, then released.
std::string dead_address() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

// A listener that answers each connection with `answer` (nothing at all when it is empty, until
// it is destroyed) and closes it: a node that misbehaves.
class FakeNode {
 public:
  explicit FakeNode(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 8);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    address_ = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    thread_ = std::thread([this] {
      for (;;) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;  // shut down
        std::string request;
        char chunk[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
          if (n <= 0) break;
          request.append(chunk, static_cast<std::size_t>(n));
        }
        if (answer_.empty()) {
          held_.push_back(client);
          continue;
        }
        ::send(client, answer_.data(), answer_.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ~FakeNode() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (const int client : held_) ::close(client);
  }
  const std::string& address() const { return address_; }

 private:
  std::string answer_, address_;
  int fd_ = -1;
  std::vector<int> held_;
  std::thread thread_;
};

class MeshctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    n1 = start("n1", "game", {});
    n2 = start("n2", "game,chat", {"--seed", n1->listen()});
    n3 = start("n3", "game", {"--seed", n1->listen()});
    for (NodeProcess* p : {n1.get(), n2.get(), n3.get()}) {
      ASSERT_EQ(p->command("wait-nodes game 3 5000"), "ok") << p->name() << p->log();
      ASSERT_EQ(p->command("wait-nodes chat 1 5000"), "ok") << p->name();
    }
  }
  // A long failure timeout: a node stopped with SIGSTOP stays a member for a while.
  static std::unique_ptr<NodeProcess> start(const std::string& name,
                                            const std::string& capabilities,
                                            std::vector<std::string> extra) {
    std::vector<std::string> args{"--name",
                                  name,
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--cookie",
                                  "c",
                                  "--capabilities",
                                  capabilities,
                                  "--heartbeat-ms",
                                  "50",
                                  "--failure-timeout-ms",
                                  "5000",
                                  "--http",
                                  "127.0.0.1:0",
                                  "--http-token",
                                  kToken};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<NodeProcess>(kNodeBinary, args);
  }
  // meshctl --node n1 --token ... args
  CtlRun ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", n1->http(), "--token", kToken});
    return meshctl(args);
  }
  std::unique_ptr<NodeProcess> n1, n2, n3;
};

TEST_F(MeshctlTest, MembersAndCapabilities) {
  CtlRun run = ctl({"members"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.rows(),
            (std::vector<std::vector<std::string>>{
                {"NAME", "CAPABILITIES"}, {"n1", "game"}, {"n2", "chat,game"}, {"n3", "game"}}))
      << run.out;
  run = ctl({"members", "--json"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.json()["nodes"].size(), 3u) << run.out;
  EXPECT_EQ(run.json()["nodes"][1], (Value{{"name", "n2"}, {"capabilities", {"chat", "game"}}}));

  run = ctl({"capabilities"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.rows(), (std::vector<std::vector<std::string>>{
                            {"CAPABILITY", "NODES"}, {"chat", "n2"}, {"game", "n1,n2,n3"}}))
      << run.out;
  EXPECT_EQ(ctl({"--json", "capabilities"}).json()["capabilities"]["game"],
            Value({"n1", "n2", "n3"}));
}

TEST_F(MeshctlTest, ShardsSummaryAndEveryShard) {
  const CtlRun json = ctl({"shards", "game", "--json"});
  ASSERT_EQ(json.exit, 0) << json.err;
  const Value map = json.json();
  ASSERT_EQ(map["owners"].size(), 4096u) << json.out;

  const CtlRun summary = ctl({"shards", "game"});
  ASSERT_EQ(summary.exit, 0) << summary.err;
  const auto rows = summary.rows();
  ASSERT_EQ(rows.size(), 5u) << summary.out;
  EXPECT_EQ(summary.out.substr(0, summary.out.find('\n')),
            "game: 4096 shards over 3 nodes (view epoch " + map["view_epoch"].dump() + ")");
  EXPECT_EQ(rows[1], (std::vector<std::string>{"NODE", "SHARDS", "SHARE"}));
  int total = 0;
  for (std::size_t i = 2; i < 5; ++i) {
    EXPECT_EQ(rows[i][0], "n" + std::to_string(i - 1));
    EXPECT_EQ(rows[i][1], map["counts"][rows[i][0]].dump()) << summary.out;
    EXPECT_GT(std::stoi(rows[i][1]), 1000) << summary.out;
    total += std::stoi(rows[i][1]);
  }
  EXPECT_EQ(total, 4096);

  const CtlRun all = ctl({"shards", "game", "--all"});
  ASSERT_EQ(all.exit, 0) << all.err;
  const auto lines = all.rows();
  ASSERT_EQ(lines.size(), 4097u);
  EXPECT_EQ(lines[0], (std::vector<std::string>{"SHARD", "OWNER"}));
  for (std::size_t shard = 0; shard < 4096; ++shard) {
    ASSERT_EQ(lines[shard + 1],
              (std::vector<std::string>{
                  std::to_string(shard),
                  map["nodes"][map["owners"][shard].get<std::size_t>()].get<std::string>()}));
  }
}

TEST_F(MeshctlTest, CallWhereAndCast) {
  CtlRun run = ctl({"call", "game", "Counter", "c 1/x", "{}"});  // spaces and '/' in the id
  ASSERT_EQ(run.exit, 0) << run.err;
  auto rows = run.rows();
  ASSERT_EQ(rows.size(), 2u) << run.out;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"value", "1"}));
  const std::string pid = rows[0].at(1);
  run = ctl({"--json", "call", "game", "Counter", "c 1/x", "{}", "--timeout-ms", "2000"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.json()["value"], 2) << run.out;
  EXPECT_EQ(run.json()["pid"], pid);

  run = ctl({"where", "game", "Counter", "c 1/x"});
  ASSERT_EQ(run.exit, 0) << run.err;
  rows = run.rows();
  const std::string owner = pid.substr(0, pid.find('.'));
  ASSERT_EQ(rows.size(), 4u) << run.out;
  EXPECT_EQ(rows[0][0], "shard");
  EXPECT_EQ(rows[1], (std::vector<std::string>{"owner", owner}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"active", "true"}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"pid", pid}));
  EXPECT_EQ(ctl({"where", "game", "Counter", "never-called"}).rows()[2],
            (std::vector<std::string>{"active", "false"}));

  run = ctl({"cast", "game", "Counter", "c 1/x", R"({"action": "reset"})"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.out, "routed\n");
  // The cast and the call leave n1 in this order for the same actor, so they arrive in it.
  EXPECT_EQ(ctl({"--json", "call", "game", "Counter", "c 1/x", "{}"}).json()["value"], 1);

  run = ctl({"call", "game", "GameActor", "p9", R"({"action": "get_stats"})", "--init-arg",
             R"({"starting_level": 4})"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.rows()[1], (std::vector<std::string>{"value", R"({"level":4,"score":0})"}));
}

TEST_F(MeshctlTest, StatusOfThisNodeAndOfTheCluster) {
  CtlRun run = ctl({"status"});
  ASSERT_EQ(run.exit, 0) << run.err;
  std::map<std::string, std::string> fields;
  for (const auto& row : run.rows()) {
    ASSERT_EQ(row.size(), 2u) << run.out;
    fields[row[0]] = row[1];
  }
  EXPECT_EQ(fields["name"], "n1");
  EXPECT_EQ(fields["listen"], n1->listen());
  EXPECT_EQ(fields["http"], n1->http());
  EXPECT_EQ(fields["members"], "n1,n2,n3");
  EXPECT_EQ(fields["capabilities"], "game");
  EXPECT_EQ(run.out.substr(0, 4), "name");  // identity first
  const Value json = ctl({"status", "--json"}).json();
  EXPECT_EQ(fields["owned_shards"], "game=" + json["owned_shards"]["game"].dump());
  EXPECT_EQ(fields["activations"], json["activations"].dump());

  run = ctl({"status", "--cluster"});
  ASSERT_EQ(run.exit, 0) << run.err;
  const auto rows = run.rows();
  ASSERT_EQ(rows.size(), 4u) << run.out;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"NODE", "CAPABILITIES", "EPOCH", "ACTIVATIONS",
                                               "OWNED_SHARDS", "HANDOFFS", "STATUS"}));
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(rows[i][0], "n" + std::to_string(i));
    EXPECT_EQ(rows[i].back(), "ok") << run.out;
  }
  EXPECT_EQ(rows[2][1], "chat,game");
  const Value cluster = ctl({"status", "--cluster", "--json"}).json();
  ASSERT_EQ(cluster["nodes"].size(), 3u);
  EXPECT_EQ(cluster["nodes"][2]["status"]["name"], "n3");
}

TEST_F(MeshctlTest, AStoppedNodeShowsItsErrorAndTheOthersTheirStatus) {
  ::kill(n3->pid(), SIGSTOP);
  const auto began = std::chrono::steady_clock::now();
  const CtlRun run = ctl({"status", "--cluster"});
  const auto took = std::chrono::steady_clock::now() - began;
  ::kill(n3->pid(), SIGCONT);
  ASSERT_EQ(run.exit, 0) << run.err;
  const auto rows = run.rows();
  ASSERT_EQ(rows.size(), 4u) << run.out;
  EXPECT_EQ(rows[1].back(), "ok") << run.out;
  EXPECT_EQ(rows[2].back(), "ok") << run.out;
  EXPECT_EQ(rows[3][0], "n3");
  EXPECT_EQ(rows[3][1], "game");  // from n1's view, though n3 did not answer
  EXPECT_EQ(rows[3][6], "timeout:") << run.out;
  EXPECT_LT(took, 4s);  // one bound of 1 s per peer, asked in parallel
}

TEST_F(MeshctlTest, Reconcile) {
  CtlRun run = ctl({"reconcile"});
  ASSERT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.out, "stopped 0 activations on shards this node does not own\n");
  run = ctl({"reconcile", "--json"});
  EXPECT_EQ(run.json(), (Value{{"stopped", 0}}));
}

TEST_F(MeshctlTest, ExitCodesSayWhatFailed) {
  // 1: the node answered an error, told on stderr with its name and message.
  CtlRun run = ctl({"call", "game", "Nope", "x", "{}"});
  EXPECT_EQ(run.exit, 1);
  EXPECT_EQ(run.err.rfind("meshctl: unknown_module: ", 0), 0u) << run.err;
  EXPECT_EQ(run.out, "");
  run = ctl({"--json", "shards", "nope"});
  EXPECT_EQ(run.exit, 1);
  EXPECT_EQ(run.json()["error"], "no_nodes") << run.out;  // the body still goes to scripts
  EXPECT_NE(run.err.find("no node has capability 'nope'"), std::string::npos) << run.err;

  // 2: usage.
  EXPECT_EQ(ctl({}).exit, 2);
  EXPECT_EQ(ctl({"frobnicate"}).exit, 2);
  EXPECT_EQ(ctl({"shards"}).exit, 2);
  EXPECT_EQ(ctl({"call", "game", "Counter", "x"}).exit, 2);
  run = ctl({"call", "game", "Counter", "x", "{not json"});
  EXPECT_EQ(run.exit, 2);
  EXPECT_NE(run.err.find("not valid JSON"), std::string::npos) << run.err;
  EXPECT_EQ(ctl({"call", "game", "Counter", "x", "{}", "--timeout-ms", "0"}).exit, 2);
  run = meshctl({"members"});  // no node at all
  EXPECT_EQ(run.exit, 2);
  EXPECT_NE(run.err.find("MESH_NODE"), std::string::npos) << run.err;
  EXPECT_EQ(meshctl({"--node", "localhost", "members"}).exit, 2);  // no port
  EXPECT_EQ(meshctl({"--help"}).exit, 0);

  // 3: nothing listens there.
  run = meshctl({"--node", dead_address(), "members"});
  EXPECT_EQ(run.exit, 3);
  EXPECT_NE(run.err.find("cannot connect"), std::string::npos) << run.err;
  EXPECT_EQ(meshctl({"--node", "no-such-host.invalid:80", "members"}).exit, 3);

  // 4: a missing or wrong token.
  run = meshctl({"--node", n2->http(), "members"});
  EXPECT_EQ(run.exit, 4);
  EXPECT_EQ(run.err.rfind("meshctl: unauthorized: ", 0), 0u) << run.err;
  EXPECT_EQ(meshctl({"--node", n2->http(), "--token", "wrong", "status"}).exit, 4);
}

TEST_F(MeshctlTest, NodeAndTokenComeFromTheEnvironmentUnlessGiven) {
  CtlRun run = meshctl({"members"}, {{"MESH_NODE", n3->http()}, {"MESH_HTTP_TOKEN", kToken}});
  EXPECT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.rows().size(), 4u);
  run = meshctl({"status", "--json"}, {{"MESH_NODE", n3->http()}, {"MESH_HTTP_TOKEN", kToken}});
  EXPECT_EQ(run.json()["name"], "n3");
  // Flags win over the environment.
  run = meshctl({"--node", n2->http(), "--token", kToken, "status", "--json"},
                {{"MESH_NODE", dead_address()}, {"MESH_HTTP_TOKEN", "wrong"}});
  EXPECT_EQ(run.exit, 0) << run.err;
  EXPECT_EQ(run.json()["name"], "n2");
  EXPECT_EQ(meshctl({"members"}, {{"MESH_NODE", n3->http()}, {"MESH_HTTP_TOKEN", "wrong"}}).exit,
            4);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

std::string http_answer(const std::string& status_line, const std::string& body) {
  return "HTTP/1.1 " + status_line +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

TEST(MeshctlAgainstABrokenNode, AnswersThatAreNoAnswerAre3AndOddOnes1) {
  const auto run = [](const std::string& answer, std::vector<std::string> args) {
    FakeNode node(answer);
    args.insert(args.begin(), {"--node", node.address()});
    return meshctl(args);
  };
  CtlRun result = run("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"nodes\"", {"members"});
  EXPECT_EQ(result.exit, 3);  // closed before the whole body came
  EXPECT_NE(result.err.find("closed the connection early"), std::string::npos) << result.err;
  EXPECT_EQ(run("SSH-2.0-OpenSSH\r\n\r\n", {"members"}).exit, 3);
  result = run(http_answer("200 OK", R"({"nodes":[1,2]})"), {"members"});
  EXPECT_EQ(result.exit, 1);
  EXPECT_NE(result.err.find("unexpected answer"), std::string::npos) << result.err;
  result = run(http_answer("200 OK", "<html>"), {"status"});
  EXPECT_EQ(result.exit, 1);
  EXPECT_NE(result.err.find("not JSON"), std::string::npos) << result.err;
  result = run(http_answer("502 Bad Gateway", "upstream down"), {"reconcile"});
  EXPECT_EQ(result.exit, 1);
  EXPECT_EQ(result.err, "meshctl: HTTP 502: upstream down\n");
  // Connected, and then nothing: bounded by the 10 s read limit.
  const auto began = std::chrono::steady_clock::now();
  result = run("", {"members"});
  EXPECT_EQ(result.exit, 3);
  EXPECT_NE(result.err.find("no answer from"), std::string::npos) << result.err;
  EXPECT_LT(std::chrono::steady_clock::now() - began, 15s);
}

}  // namespace
}  // namespace mesh::test
