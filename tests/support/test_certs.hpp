// TestCerts: a CA, a second CA and node certificates made with the `openssl` command in a
// temporary directory (removed on destruction), for TLS tests and benchmarks. Header-only,
// POSIX; needs the openssl program (scripts/install-deps.sh installs it).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "mesh/node_options.hpp"

namespace mesh::test {

class TestCerts {
 public:
  TestCerts() {
    char dir_template[] = "/tmp/mesh_certs_XXXXXX";
    if (!::mkdtemp(dir_template)) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_template;
  }
  ~TestCerts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  // A self-signed CA named `ca`.
  void make_ca(const std::string& ca) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        path(ca + ".key") + " -out " + path(ca + ".pem") + " -subj /CN=" + ca + " -days 30");
  }
  // A certificate for `name` signed by `ca`, valid for `days` from now (negative: expired that
  // many days ago, as `openssl x509 -days -1` makes notAfter fall before now).
  void make_node(const std::string& name, const std::string& ca, int days = 30) {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        path(name + ".key") + " -out " + path(name + ".csr") + " -subj /CN=" + name);
    run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".pem") + " -CAkey " +
        path(ca + ".key") + " -CAcreateserial -out " + path(name + ".pem") + " -days " +
        std::to_string(days));
  }
  // `name`'s certificate and key, trusting `ca`.
  TlsOptions options(const std::string& name, const std::string& ca) const {
    return TlsOptions{path(name + ".pem"), path(name + ".key"), path(ca + ".pem")};
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  static void run(const std::string& command) {
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
      throw std::runtime_error("failed (is the openssl program installed?): " + command);
    }
  }

  std::string dir_;
};

}  // namespace mesh::test
