// A deliberately plain HTTP/1.1 client over a blocking socket, for tests that must control
// every byte (pipelining, slow clients, malformed requests). Header-only, POSIX.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mesh/value.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace mesh::test {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  Value json() const { return Value::parse(body, nullptr, false); }
};

class HttpClient {
 public:
  // address: "127.0.0.1:PORT". Throws std::runtime_error when it cannot connect.
  explicit HttpClient(const std::string& address) {
    const std::size_t colon = address.rfind(':');
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
    ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      throw std::runtime_error("cannot connect to " + address);
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~HttpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Writes raw bytes; false when the server closed the connection.
  bool send_raw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  void send(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& extra_headers = "") {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers;
    if (!body.empty() || method == "POST") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + body;
    if (!send_raw(request)) throw std::runtime_error("server closed the connection");
  }

  // Reads one response (Content-Length framed). Nullopt when the connection closed first or
  // nothing complete came within `within`.
  std::optional<HttpResult> receive(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + within;
    for (;;) {
      if (auto result = take_response()) return result;
      if (!fill(until)) return std::nullopt;
    }
  }

  HttpResult request(const std::string& method, const std::string& path,
                     const std::string& body = "", const std::string& extra_headers = "") {
    send(method, path, body, extra_headers);
    std::optional<HttpResult> result = receive();
    if (!result) throw std::runtime_error("no response to " + method + " " + path);
    return *result;
  }

  // Whether the server closes the connection (EOF) within `within`, ignoring any bytes.
  bool closed_within(std::chrono::milliseconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (fill(until)) {
    }
    return eof_;
  }

 private:
  // Reads once more; false on EOF, error or the deadline.
  bool fill(std::chrono::steady_clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  std::optional<HttpResult> take_response() {
    const std::size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    HttpResult result;
    result.status = std::stoi(buffer_.substr(9, 3));
    std::size_t line = buffer_.find("\r\n") + 2;
    while (line < end) {
      const std::size_t next = buffer_.find("\r\n", line);
      const std::string header = buffer_.substr(line, next - line);
      const std::size_t colon = header.find(':');
      std::string name = header.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      result.headers[name] = header.substr(header.find_first_not_of(' ', colon + 1));
      line = next + 2;
    }
    const std::size_t length = std::stoul(result.headers.at("content-length"));
    if (buffer_.size() < end + 4 + length) return std::nullopt;
    result.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return result;
  }

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace mesh::test
