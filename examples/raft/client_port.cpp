#include "client_port.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

#include <corio/time.hpp>

#include "resp_parser.hpp"

namespace raft {
namespace {

using namespace std::chrono_literals;

std::string upper(std::string_view s) {
  std::string u(s);
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  return u;
}

void bulk(std::string& out, std::string_view v) {
  out += '$';
  out += std::to_string(v.size());
  out += "\r\n";
  out.append(v);
  out += "\r\n";
}

// The state machine's reply ("+OK", ":3", "$v", "_", "-ERR ...") as RESP.
void resp_of(std::string& out, std::string_view r) {
  if (r.empty()) return;
  switch (r[0]) {
    case '$': bulk(out, r.substr(1)); return;
    case '_': out += "$-1\r\n"; return;
    default: out.append(r); out += "\r\n"; return;
  }
}

// One request; false: close the connection after the reply.
corio::task<> execute(std::span<std::string> args, node<corio::real_network>& n, std::string& out) {
  const std::string cmd = upper(args[0]);
  const auto arity = [&](std::size_t want) {
    if (args.size() == want) return true;
    out += "-ERR wrong number of arguments for '" + args[0] + "' command\r\n";
    return false;
  };
  if (cmd == "PING") {
    if (args.size() == 2) {
      bulk(out, args[1]);
    } else if (arity(1)) {
      out += "+PONG\r\n";
    }
    co_return;
  }
  if (cmd == "ROLE") {
    if (!arity(1)) co_return;
    out += "*2\r\n";
    bulk(out, to_string(n.role()));
    out += ':' + std::to_string(n.term()) + "\r\n";
    co_return;
  }
  std::string command;
  if (cmd == "GET" && arity(2)) {
    command = encode_command(op::get, args[1]);
  } else if (cmd == "SET" && arity(3)) {
    command = encode_command(op::set, args[1], args[2]);
  } else if (cmd == "DEL" && arity(2)) {
    command = encode_command(op::del, args[1]);
  } else if (cmd == "INCR" && arity(2)) {
    command = encode_command(op::incr, args[1]);
  } else if (cmd != "GET" && cmd != "SET" && cmd != "DEL" && cmd != "INCR") {
    out += "-ERR unknown command '" + args[0] + "'\r\n";
    co_return;
  } else {
    co_return;  // the arity error is written
  }
  const auto not_leader = [&] {
    const std::string& at = n.leader_client_address();
    out += "-NOTLEADER " + (at.empty() ? std::string("unknown") : at) + "\r\n";
  };
  if (n.role() != role::leader) {
    not_leader();
    co_return;
  }
  // Bounded: a leader cut off from its majority never commits; the client retries elsewhere.
  auto got = co_await corio::timeout(5s, n.propose(std::move(command)));
  if (!got) {
    out += "-TIMEOUT not committed within 5 s\r\n";
  } else if (!got->committed) {
    not_leader();
  } else {
    resp_of(out, got->reply);
  }
}

}  // namespace

corio::task<> serve_client(corio::tcp_stream stream, node<corio::real_network>& n) {
  kv::request_parser parser;
  std::array<std::byte, 16 * 1024> buf;
  std::string pending;
  std::string out;
  for (;;) {
    auto got = co_await stream.read(buf);
    if (!got || *got == 0) co_return;  // error, cancellation or end of stream
    pending.append(reinterpret_cast<const char*>(buf.data()), *got);
    std::string_view input = pending;
    bool close = false;
    out.clear();
    for (;;) {
      const auto status = parser.parse(input);
      if (status == kv::request_parser::status::need_more) break;
      if (status == kv::request_parser::status::error) {
        if (!parser.error().empty()) out += "-ERR " + std::string(parser.error()) + "\r\n";
        close = true;
        break;
      }
      if (parser.args().empty()) continue;
      co_await execute(parser.args(), n, out);
    }
    pending.erase(0, pending.size() - input.size());
    if (!out.empty()) {
      auto wrote = co_await stream.write_all(std::as_bytes(std::span(out)));
      if (!wrote) co_return;
    }
    if (close) co_return;
  }
}

}  // namespace raft
