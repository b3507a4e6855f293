// The dashboard (GET /) and its login form (GET /login, POST /login, POST /logout):
// docs/operations.md.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/credentials.hpp"
#include "http/form.hpp"
#include "node/dashboard_pages.hpp"
#include "node/http_gateway.hpp"

namespace mesh::detail {
namespace {

using http::Access;
using http::HttpRequest;
using http::HttpResponse;
using http::PathParams;
using http::Respond;

// The pages hold no secret, but a cached one could be shown again to whoever uses the browser
// next; they load nothing from elsewhere, so the policy allows nothing from elsewhere (an
// injected <script src> or a form posting the token away is refused by the browser).
HttpResponse html_page(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(body);
  response.headers = {
      {"Cache-Control", "no-store"},
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return response;
}

HttpResponse login_page(int status, std::string_view message) {
  std::string page(embedded::dashboard_login_html());
  static constexpr std::string_view kMark = "<!--message-->";
  if (const std::size_t at = page.find(kMark); at != std::string::npos && !message.empty()) {
    page.replace(at, kMark.size(),
                 "<p class=\"refused\" role=\"alert\">" + std::string(message) + "</p>");
  }
  HttpResponse response = html_page(status, std::move(page));
  if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

// 303: the browser follows with a GET, so reloading the dashboard never posts the form again.
HttpResponse see_dashboard() {
  HttpResponse response;
  response.status = 303;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "see /\n";
  response.headers.emplace_back("Location", "/");
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace

void HttpGateway::add_dashboard_routes(const NodeOptions& options) {
  // Without a token everyone is let in and the login form has nothing to check.
  auto credentials = std::make_shared<const http::Credentials>(options.http_token);
  router_.add(
      "GET", "/",
      [credentials](HttpRequest&& request, PathParams&&, Respond respond) {
        if (!request.authorized) return respond(login_page(200, ""));
        std::string page(embedded::dashboard_index_html());
        static constexpr std::string_view kMark = "<!--signout-->";
        if (const std::size_t at = page.find(kMark);
            at != std::string::npos && credentials->required()) {
          page.replace(at, kMark.size(),
                       R"(<form class="signout" method="post" action="/logout">)"
                       R"(<button type="submit">Sign out</button></form>)");
        }
        respond(html_page(200, std::move(page)));
      },
      Access::open);
  router_.add(
      "GET", "/login",
      [](HttpRequest&&, PathParams&&, Respond respond) { respond(login_page(200, "")); },
      Access::open);
  // The token comes in the body of a POST, never in a URL that a proxy or history would keep.
  router_.add(
      "POST", "/login",
      [credentials](HttpRequest&& request, PathParams&&, Respond respond) {
        if (!credentials->required()) return respond(see_dashboard());
        const std::optional<std::string> token = http::form_field(request.body, "token");
        if (!token || !credentials->is_token(*token)) {
          return respond(login_page(401, "Wrong token."));
        }
        HttpResponse response = see_dashboard();
        response.headers.emplace_back("Set-Cookie", credentials->session_cookie());
        respond(std::move(response));
      },
      Access::open);
  // Open: signing out needs no proof, and a browser whose session ended can still clear it.
  router_.add(
      "POST", "/logout",
      [](HttpRequest&&, PathParams&&, Respond respond) {
        HttpResponse response = see_dashboard();
        response.headers.emplace_back("Set-Cookie", http::Credentials::expired_cookie());
        respond(std::move(response));
      },
      Access::open);
}

}  // namespace mesh::detail
