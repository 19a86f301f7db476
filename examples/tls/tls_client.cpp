// A TLS client: connects, verifies the server (chain and name), sends one line and prints
// the line that comes back.
//
//   tls_client --host localhost --port 8443 --cafile ca.pem [--message TEXT] [--alpn h2,...]
//
// --host is the name the certificate must carry and the SNI sent; the address connected to is
// --connect (default: 127.0.0.1 for localhost, else --host itself, which must then be an IP
// address: this example does no DNS). Exit status: 0 on a reply, 1 on any failure (printed
// with the reason, e.g. which certificate failed verification and why), 2 on bad flags.
#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tls.hpp>
#include <fmt/core.h>

#include "tls/tls_service.hpp"

namespace {

using namespace std::chrono_literals;

struct client_options {
  std::string host = "localhost";
  std::string connect;
  std::uint16_t port = 0;
  std::string cafile;
  std::string message = "hello over TLS";
  std::vector<std::string> alpn;
  long timeout_ms = 5000;
};

corio::task<int> run(client_options o) {
  auto ctx = corio::tls::context::client();
  if (!ctx) {
    fmt::print(stderr, "tls: {}\n", ctx.error().message());
    co_return 1;
  }
  if (!o.cafile.empty()) {
    if (auto r = ctx->load_ca_file(o.cafile); !r) {
      fmt::print(stderr, "--cafile {}: {}\n", o.cafile, r.error().message());
      co_return 1;
    }
  }
  if (!o.alpn.empty()) {
    if (auto r = ctx->set_alpn(o.alpn); !r) {
      fmt::print(stderr, "--alpn: {}\n", r.error().message());
      co_return 1;
    }
  }
  const std::string where =
      !o.connect.empty() ? o.connect : (o.host == "localhost" ? "127.0.0.1" : o.host);
  auto ip = corio::net::ip_address::parse(where);
  if (!ip) {
    fmt::print(stderr, "{}: not an IP address (use --connect ADDR)\n", where);
    co_return 2;
  }
  const std::chrono::milliseconds limit(o.timeout_ms);
  std::string why;
  auto s = co_await corio::tls::connect(*ctx, {*ip, o.port}, o.host, limit, &why);
  if (!s) {
    fmt::print(stderr, "connect to {} port {}: {}{}{}\n", where, o.port, s.error().message(),
               why.empty() ? "" : ": ", why);
    co_return 1;
  }
  fmt::print(stderr, "{} {}{}{}\n", s->protocol_version(), s->cipher(),
             s->alpn_protocol().empty() ? "" : " alpn ", s->alpn_protocol());
  const std::string line = o.message + "\n";
  if (auto w = co_await corio::timeout(limit, s->write_all(std::as_bytes(std::span(line)))); !w) {
    fmt::print(stderr, "write: {}: {}\n", w.error().message(), s->error_detail());
    co_return 1;
  }
  // One line back, however the records split it; bounded in size and time.
  std::string reply;
  std::array<std::byte, 4096> buf;
  while (reply.find('\n') == std::string::npos && reply.size() < 65536) {
    auto n = co_await corio::timeout(limit, s->read(buf));
    if (!n) {
      fmt::print(stderr, "read: {}: {}\n", n.error().message(), s->error_detail());
      co_return 1;
    }
    if (*n == 0) break;
    reply.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  if (reply.empty()) {
    fmt::print(stderr, "the server closed without replying\n");
    co_return 1;
  }
  fmt::print("{}", reply.back() == '\n' ? reply : reply + "\n");
  (void)co_await corio::timeout(limit, s->shutdown());  // best effort: we have our answer
  examples::tls_close(*s);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  examples::command_line cl("Connects over TLS, sends one line, prints the reply.", argc, argv);
  client_options o;
  corio::backend_kind backend = corio::backend_kind::automatic;
  cl.option("--host", o.host, "name the server's certificate must carry (and SNI)");
  cl.option("--connect", o.connect, "IP address to connect to (default: from --host)");
  cl.option("--port", o.port, "server port").required();
  cl.option("--cafile", o.cafile, "PEM file of CAs to trust (default: the system's)")
      .existing_file();
  cl.option("--message", o.message, "the line to send");
  cl.option("--alpn", o.alpn, "protocols to offer, in order").delimiter(',');
  cl.option("--timeout-ms", o.timeout_ms, "bound on connect, handshake and each read")
      .range(1, 3600000);
  cl.option(
        "--backend",
        [&backend](const std::string& v) { backend = *corio::parse_backend_kind(v); },
        "epoll | io_uring | auto")
      .one_of({"epoll", "io_uring", "auto"});
  cl.parse();
  try {
    return corio::block_on(run(o), corio::runtime_options{backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "tls_client: {}\n", e.what());
    return 1;
  }
}
