// What the server answers to which request: the routes, in one table-like function.
//   GET|HEAD /          200, a line of text
//   GET|HEAD /plaintext 200, "Hello, World!" (the TechEmpower plaintext test)
//   POST /echo          200, the request body
// Another method on one of these paths is 405 with Allow; any other path is 404.
#pragma once

#include <string_view>

#include "request_parser.hpp"

namespace http {

enum class action { fixed, echo };

struct route {
  status code = status::ok;
  action what = action::fixed;
  std::string_view body;           // action::fixed
  std::string_view content_type;
  std::string_view allow;          // for 405
};

route route_for(const request& r) noexcept;

}  // namespace http
