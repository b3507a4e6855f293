// The dashboard's pages, node/dashboard/*.html embedded at build time (cmake/embed_text.cmake).
#pragma once

#include <string_view>

namespace mesh::detail::embedded {

std::string_view dashboard_index_html();  // the dashboard itself
// The login form; "<!--message-->" marks where a refusal is said.
std::string_view dashboard_login_html();

}  // namespace mesh::detail::embedded
