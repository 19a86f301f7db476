// The libuv peer: callbacks, libuv's tcp-echo-server from its docs, tuned the way fast libuv code
// is: a per-connection read buffer reused (the docs malloc one per read) and uv_try_write first;
// only bytes the socket cannot take at once get a malloc'd write request.
// --port P (0 = ephemeral); prints `listening on 127.0.0.1:PORT`; SIGINT/SIGTERM end it.
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct client {
  uv_tcp_t handle;
  char buf[4096];
};
struct write_req {
  uv_write_t req;
  uv_buf_t buf;
};

void on_close(uv_handle_t* h) { delete reinterpret_cast<client*>(h); }

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* c = reinterpret_cast<client*>(h);
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

void on_write(uv_write_t* req, int) {
  auto* w = reinterpret_cast<write_req*>(req);
  std::free(w->buf.base);
  delete w;
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(stream), on_close);
    return;
  }
  if (n == 0) return;
  uv_buf_t whole = uv_buf_init(buf->base, static_cast<unsigned>(n));
  int done = uv_try_write(stream, &whole, 1);
  if (done == n) return;
  if (done < 0) done = 0;
  const auto rest = static_cast<std::size_t>(n - done);
  auto* w = new write_req;
  w->buf = uv_buf_init(static_cast<char*>(std::malloc(rest)), static_cast<unsigned>(rest));
  std::memcpy(w->buf.base, buf->base + done, rest);
  uv_write(&w->req, stream, &w->buf, 1, on_write);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new client;
  uv_tcp_init(server->loop, &c->handle);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) == 0) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), on_alloc, on_read);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_close);
  }
}

void on_signal(uv_signal_t* s, int) { uv_stop(s->loop); }

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) port = std::atoi(argv[2]);
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", port, &addr);
  sockaddr_in bound{};
  int len = sizeof bound;
  if (uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection) != 0 ||
      uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    std::fprintf(stderr, "listen failed\n");
    return 1;
  }
  uv_signal_t sigint, sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  std::printf("listening on 127.0.0.1:%d\n", ntohs(bound.sin_port));
  std::fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
