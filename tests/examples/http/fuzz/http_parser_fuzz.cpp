// libFuzzer target for examples/http/request_parser: any bytes, fed whole and fed in pieces.
// Beyond the sanitizers' checks it asserts the contract the connection relies on:
// - consumed never exceeds what was given, and a call that is not need_more consumes or ends
//   the message (progress, so the connection loop cannot spin);
// - need_more leaves less than max_head bytes unconsumed (the input buffer never fills);
// - body bytes never exceed max_body, nor the declared Content-Length;
// - the events do not depend on how the bytes were split (the first input byte picks the cuts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "request_parser.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::string run(std::string_view input, unsigned stride) {
  const http::limits limits;
  http::request_parser parser(limits);
  std::string buffered, log;
  std::size_t fed = 0;
  std::uint64_t body = 0;
  for (std::size_t guard = 0; guard < 4 * input.size() + 64; ++guard) {
    const auto s = parser.next(buffered);
    require(s.consumed <= buffered.size());
    switch (s.kind) {
      case http::event::head:
        require(s.consumed > 0);
        log += 'H';
        log += parser.current().method_text;
        log += parser.current().path;
        log += parser.current().keep_alive ? 'k' : 'c';
        body = 0;
        break;
      case http::event::body:
        require(!s.body.empty() && s.body.size() <= s.consumed);
        body += s.body.size();
        require(body <= limits.max_body);
        if (parser.current().body == http::framing::length) {
          require(body <= parser.current().content_length);
        }
        break;  // how a body is sliced depends on the cuts; its total (at C) does not
      case http::event::complete:
        log += 'C';
        log += std::to_string(body);
        break;
      case http::event::error:
        log += 'E';
        log += std::to_string(static_cast<int>(s.error));
        return log;
      case http::event::need_more:
        require(parser.in_head() || s.consumed == buffered.size());
        require(buffered.size() - s.consumed < limits.max_head);
        break;
    }
    buffered.erase(0, s.consumed);
    if (s.kind != http::event::need_more) continue;
    if (fed == input.size()) return log;
    const std::size_t n = std::min<std::size_t>(stride, input.size() - fed);
    buffered.append(input.substr(fed, n));
    fed += n;
  }
  std::abort();  // no progress
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned stride = data[0] % 17 + 1;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string whole = run(input, static_cast<unsigned>(input.size() + 1));
  const std::string split = run(input, stride);
  require(whole == split);
  return 0;
}
