// The reminder figures of docs/benchmarks.md and docs/timers-and-reminders.md: one node
// holding N reminders in a SQLite file (default 1,000,000): the memory its due-time index
// takes, how fast it delivers them when they all come due at once, and what a second node
// joining takes over (and rewrites). Prints one line per figure.
//
//   reminder_bench [DIR] [--count N] [--normal]
// DIR: where the SQLite file goes (default: a new directory under /tmp). --normal opens the
// store with SqliteSync::normal instead of full. The reminders are written straight into the
// file in one transaction (setting a million through the API would measure commits, which the
// "set" figure does on its own).
#include <sqlite3.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <mesh/mesh.hpp>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<long> delivered{0};

struct Job {
  explicit Job(std::string) {}
  mesh::Value handle_call(const mesh::Value&) { return true; }
  void handle_reminder(std::string_view, const mesh::Value&) {
    delivered.fetch_add(1, std::memory_order_relaxed);
  }
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Anonymous resident memory (heap and stacks), without the pages of the SQLite file that the
// store's connections map: those are the OS's page cache, shared and reclaimable.
long rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::atol(line.c_str() + 8) * 1024;
  }
  return 0;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", error ? error : "?");
    std::exit(1);
  }
}

// Writes `count` one-shot reminders of module Job, due at `due_ms`, into the store's file.
void insert(const std::string& path, long count, std::int64_t due_ms) {
  mesh::Node hasher(mesh::NodeOptions{.name = "hasher"});  // shard_for, as every node computes it
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_busy_timeout(db, 10'000);
  exec(db, "BEGIN IMMEDIATE");
  exec(db, "DELETE FROM mesh_reminders");
  sqlite3_stmt* put = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO mesh_reminders (capability, module, id, name, shard, due_ms, "
                     "period_ms, payload, generation) VALUES ('jobs', 'Job', ?1, 'run', ?2, ?3, 0, "
                     "x'c0', ?4)",
                     -1, &put, nullptr);
  for (long i = 0; i < count; ++i) {
    const std::string id = "job" + std::to_string(i);
    sqlite3_bind_text(put, 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(put, 2, hasher.shard_for(id));
    sqlite3_bind_int64(put, 3, due_ms);
    sqlite3_bind_int64(put, 4, i + 1);
    if (sqlite3_step(put) != SQLITE_DONE) {
      std::fprintf(stderr, "insert failed: %s\n", sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(put);
  }
  sqlite3_finalize(put);
  exec(db, "COMMIT");
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");  // a node starts on a file, not a long WAL
  sqlite3_close(db);
}

// Moves every reminder's due time.
void set_due(const std::string& path, std::int64_t due_ms) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_busy_timeout(db, 10'000);
  exec(db, ("UPDATE mesh_reminders SET due_ms = " + std::to_string(due_ms)).c_str());
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
}

// A checksum of every reminder row: equal before and after means nothing was rewritten.
std::string checksum(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* select = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT count(*), sum(due_ms % 1000003), sum(generation), sum(shard) FROM "
                     "mesh_reminders",
                     -1, &select, nullptr);
  std::string out;
  if (sqlite3_step(select) == SQLITE_ROW) {
    for (int c = 0; c < 4; ++c) {
      out += std::to_string(sqlite3_column_int64(select, c)) + " ";
    }
  }
  sqlite3_finalize(select);
  sqlite3_close(db);
  return out;
}

mesh::NodeOptions options(std::string name, std::shared_ptr<mesh::StateStore> store,
                          std::vector<std::string> seeds = {}) {
  mesh::NodeOptions o{.name = std::move(name), .listen = "127.0.0.1:0", .seeds = std::move(seeds),
                      .cookie = "bench", .log = [](mesh::LogLevel, std::string_view) {}};
  o.state_store = std::move(store);
  return o;
}

std::unique_ptr<mesh::Node> start(std::string name, std::shared_ptr<mesh::StateStore> store,
                                  std::vector<std::string> seeds = {}) {
  auto node = std::make_unique<mesh::Node>(options(std::move(name), std::move(store), std::move(seeds)));
  node->register_actor<Job>("Job");
  node->register_capabilities({"jobs"});
  return node;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  long count = 1'000'000;
  bool normal = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      count = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "--normal") == 0) {
      normal = true;
    } else {
      dir = argv[i];
    }
  }
  if (dir.empty()) {
    char path[] = "/tmp/mesh_reminder_bench_XXXXXX";
    dir = ::mkdtemp(path);
  }
  const std::string path = dir + "/reminders.db";
  std::filesystem::remove(path);
  auto open = [&] {
    return normal ? mesh::sqlite_store(path, mesh::SqliteSync::normal) : mesh::sqlite_store(path);
  };
  std::printf("reminder_bench: %ld reminders, SQLite %s (sync %s)\n", count, path.c_str(),
              normal ? "normal" : "full");
  open().reset();  // the schema

  // Setting through the API: one commit per reminder (Node::set_reminder from 4 threads).
  {
    auto node = start("setter", open());
    const long sets = 2000;
    std::atomic<long> next{0};
    const auto begun = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (long i; (i = next.fetch_add(1)) < sets;) {
          auto set = node->set_reminder(mesh::ActorAddress{"jobs", "Job", "set" + std::to_string(i)},
                                        "later", std::chrono::hours(1));
          if (!set) std::fprintf(stderr, "set failed: %s\n", mesh::to_string(set.error()).c_str());
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf("set through Node::set_reminder (4 threads): %.0f reminders/s\n",
                static_cast<double>(sets) / seconds_since(begun));
  }

  // Memory: a node on a file without reminders, then one on the file with `count` reminders,
  // all due 4 s after it starts (it reads every shard's earliest due time at start; 2 s is
  // plenty). The difference is what holding them costs the node.
  insert(path, 0, 0);
  ::malloc_trim(0);
  long rss_before = rss_bytes();
  auto node = start("a", open());
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  const long rss_empty = rss_bytes() - rss_before;
  node.reset();
  ::malloc_trim(0);
  insert(path, count, wall_ms() + 3'600'000);  // writing a million takes seconds: due later
  rss_before = rss_bytes();
  node = start("a", open());
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  const long rss_full = rss_bytes() - rss_before;
  std::printf("node memory (anonymous RSS after start): %.2f MB without reminders, %.2f MB holding "
              "%ld (none due yet): %.2f bytes per reminder (one entry per shard; the store's "
              "index does the rest)\n",
              static_cast<double>(rss_empty) / 1e6, static_cast<double>(rss_full) / 1e6, count,
              static_cast<double>(rss_full - rss_empty) / static_cast<double>(count));
  node.reset();
  ::malloc_trim(0);

  // Firing: all of them due 2 s after a node starts on the file.
  set_due(path, wall_ms() + 2000);
  rss_before = rss_bytes();
  node = start("a", open());
  while (delivered.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto begun = Clock::now();
  long peak_rss = 0;
  while (delivered.load() < count && seconds_since(begun) < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    peak_rss = std::max(peak_rss, rss_bytes());
  }
  const double fire_s = seconds_since(begun);
  std::printf("fired %ld due reminders in %.2f s: %.0f reminders/s (each activates its actor); "
              "peak anonymous RSS during the burst +%.1f MB (the activations)\n",
              delivered.load(), fire_s, static_cast<double>(delivered.load()) / fire_s,
              static_cast<double>(peak_rss - rss_before) / 1e6);
  (void)rss_full;
  while (node->status().reminders_held > 0 && seconds_since(begun) < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("all recorded (removed) after %.2f s\n", seconds_since(begun));
  node.reset();

  // Rebalancing: `count` reminders due in an hour; a second node joins.
  insert(path, count, wall_ms() + 3'600'000);
  const std::string before = checksum(path);
  auto a = start("a", open());
  while (a->status().reminders_held < static_cast<std::uint64_t>(count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  begun = Clock::now();
  auto b = start("b", open(), {a->listen_address()});
  while (a->nodes_for("jobs").size() < 2 || b->nodes_for("jobs").size() < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::uint64_t held_a = 0, held_b = 0;
  while (held_a + held_b != static_cast<std::uint64_t>(count) || held_b == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    held_a = a->status().reminders_held;
    held_b = b->status().reminders_held;
  }
  const auto owned_b = b->status().owned_shards["jobs"].size();
  std::printf("join: b owns %zu of 4096 shards and holds %llu reminders after %.2f s, a holds "
              "%llu; rows rewritten by the move: %s\n",
              owned_b, static_cast<unsigned long long>(held_b), seconds_since(begun),
              static_cast<unsigned long long>(held_a),
              checksum(path) == before ? "0 (the rows stay where they are; owners read them)"
                                       : "SOME (unexpected)");
  b.reset();
  a.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
