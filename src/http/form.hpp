// Reading an application/x-www-form-urlencoded body, as an HTML form posts it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mesh::detail::http {

// The decoded value of the first field `name` of a form body ("a=1&token=x%2By"), with '+' read
// as a space and percent escapes decoded. Nullopt when the field is absent or its value is
// malformed (see percent_decode).
std::optional<std::string> form_field(std::string_view body, std::string_view name);

}  // namespace mesh::detail::http
