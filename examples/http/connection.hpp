// One HTTP/1.1 connection: requests in, responses out in request order, until the peer leaves,
// asks to close, sends something unacceptable, stalls, or the task is cancelled.
//
// Memory per connection is bounded whatever the peer does:
// - input: one fixed 16 KiB buffer; a head must fit in 8 KiB (431 otherwise) and body bytes
//   are consumed as they arrive, so the buffer never has to grow;
// - output: responses are queued and written when no complete request is left in the input or
//   when 64 KiB are queued; write_all then suspends until the peer reads, and nothing more is
//   read meanwhile, so a client that pipelines without reading is held off by TCP itself;
// - bodies: a Content-Length body is echoed as it arrives (the length is known up front); a
//   chunked one is collected, at most limits::max_body (1 MiB, 413 beyond), because the echo's
//   Content-Length is known only at its end. That buffer grows with bytes actually received,
//   never with a length the client announced, and is released after a large request.
// Time: a head must arrive within 10 s of when the server starts waiting for it (slowloris), a
// body read may wait 10 s, a write 30 s; one timer per connection enforces all three.
#pragma once

#include <corio/task.hpp>
#include <corio/tcp.hpp>
#include <corio/tls.hpp>

namespace http {

corio::task<> serve_connection(corio::tcp_stream stream);
// The same over TLS (http_server --tls-cert), after the handshake: close_notify at the end.
corio::task<> serve_connection(corio::tls::stream stream);

}  // namespace http
