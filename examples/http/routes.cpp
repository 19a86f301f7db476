#include "routes.hpp"

namespace http {

route route_for(const request& r) noexcept {
  const bool readable = r.verb == method::get || r.verb == method::head;
  if (r.path == "/plaintext") {
    if (readable) return {status::ok, action::fixed, "Hello, World!", "text/plain", {}};
    return {status::method_not_allowed, action::fixed, "Method Not Allowed\n", "text/plain",
            "GET, HEAD"};
  }
  if (r.path == "/") {
    if (readable) {
      return {status::ok, action::fixed, "corio http_server: GET /plaintext, POST /echo\n",
              "text/plain", {}};
    }
    return {status::method_not_allowed, action::fixed, "Method Not Allowed\n", "text/plain",
            "GET, HEAD"};
  }
  if (r.path == "/echo") {
    if (r.verb == method::post) return {status::ok, action::echo, {}, "application/octet-stream", {}};
    return {status::method_not_allowed, action::fixed, "Method Not Allowed\n", "text/plain",
            "POST"};
  }
  return {status::not_found, action::fixed, "Not Found\n", "text/plain", {}};
}

}  // namespace http
