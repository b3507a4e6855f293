#include "meshctl_http.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

namespace tools {
namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

int millis_left(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on fd until `until`: false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point until) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, millis_left(until));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

// Splits "host:port" / "[v6]:port".
std::optional<std::pair<std::string, std::string>> split_address(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, address.substr(colon + 1)};
}

// A non-blocking connection to the first address of `target` that accepts within the timeout.
std::expected<int, std::string> connect_to(const HttpTarget& target) {
  const auto parts = split_address(target.address);
  if (!parts) return std::unexpected("'" + target.address + "' is not HOST:PORT");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(parts->first.c_str(), parts->second.c_str(), &hints, &found);
      rc != 0) {
    return std::unexpected("cannot resolve " + target.address + ": " + ::gai_strerror(rc));
  }
  const auto until = Clock::now() + target.connect_timeout;
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    if (!wait_for(fd, POLLOUT, until)) {
      why = "timed out";
      ::close(fd);
      continue;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      why = std::strerror(error);
      ::close(fd);
      continue;
    }
    ::freeaddrinfo(found);
    return fd;
  }
  ::freeaddrinfo(found);
  return std::unexpected("cannot connect to " + target.address + ": " + why);
}

// The answer in `data` if it is complete: status line, headers, and Content-Length bytes of body
// (or everything up to the end when the server closes without saying how long it is).
std::optional<std::expected<HttpAnswer, std::string>> parse(const std::string& data, bool eof) {
  const std::size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (eof) return std::unexpected(std::string("the node closed the connection early"));
    return std::nullopt;
  }
  HttpAnswer answer;
  // "HTTP/1.1 200 OK": the status is bytes 9 to 12.
  if (end < 12 || data.compare(0, 5, "HTTP/") != 0 ||
      std::from_chars(data.data() + 9, data.data() + 12, answer.status).ec != std::errc()) {
    return std::unexpected(std::string("the answer is not HTTP"));
  }
  std::optional<std::size_t> length;
  std::size_t line = data.find("\r\n") + 2;
  while (line < end) {
    const std::size_t next = data.find("\r\n", line);
    std::string header = data.substr(line, next - line);
    for (char& c : header) {
      if (c == ':') break;
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (header.rfind("content-length:", 0) == 0) {
      std::size_t n = 0;
      const std::size_t digits = header.find_first_not_of(' ', 15);
      if (digits == std::string::npos ||
          std::from_chars(header.data() + digits, header.data() + header.size(), n).ec !=
              std::errc()) {
        return std::unexpected(std::string("the answer has a malformed Content-Length"));
      }
      length = n;
    }
    line = next + 2;
  }
  const std::size_t body = end + 4;
  if (length) {
    if (data.size() < body + *length) {
      if (eof) return std::unexpected(std::string("the node closed the connection early"));
      return std::nullopt;
    }
    answer.body = data.substr(body, *length);
    return answer;
  }
  if (!eof) return std::nullopt;
  answer.body = data.substr(body);
  return answer;
}

}  // namespace

std::expected<HttpAnswer, std::string> http_request(const HttpTarget& target,
                                                    const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body,
                                                    std::chrono::milliseconds read_timeout) {
  auto fd = connect_to(target);
  if (!fd) return std::unexpected(fd.error());
  Socket socket(*fd);
  const auto until = Clock::now() + read_timeout;

  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + target.address +
                        "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (!target.token.empty()) request += "Authorization: Bearer " + target.token + "\r\n";
  if (!body.empty() || method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    if (!wait_for(socket.fd(), POLLOUT, until)) {
      return std::unexpected("timed out sending to " + target.address);
    }
    const ssize_t n =
        ::send(socket.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0)
      return std::unexpected("cannot send to " + target.address + ": " + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }

  std::string data;
  for (;;) {
    if (!wait_for(socket.fd(), POLLIN, until)) {
      return std::unexpected("no answer from " + target.address + " within " +
                             std::to_string(read_timeout.count()) + " ms");
    }
    char chunk[65536];
    const ssize_t n = ::recv(socket.fd(), chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0)
      return std::unexpected("cannot read from " + target.address + ": " + std::strerror(errno));
    data.append(chunk, static_cast<std::size_t>(n));
    if (auto answer = parse(data, n == 0)) return *answer;
  }
}

std::string encode_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : segment) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

}  // namespace tools
