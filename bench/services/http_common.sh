# What http_bench.sh and https_bench.sh share: a work directory removed on exit, the one
# server running at a time (stopped by its PID), ports, corio's start through its listening
# line, nginx with a generated config, and the CPU a server used. Sourced, not run:
#   . "$(dirname "$0")/http_common.sh"; bench_init NAME
# after which $work, $pid and $port are the script's; start_* set $pid and $port.

bench_init() {  # NAME: makes $work, installs the cleanup
  work=$(mktemp -d "${TMPDIR:-/tmp}/corio-$1.XXXXXX")
  pid=
  port=
  trap bench_cleanup EXIT
  trap 'exit 1' INT TERM
}

stop() {  # stops the one server this script has running, by PID
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
  fi
  pid=
}

bench_cleanup() {
  stop
  rm -rf "$work"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 5 s) until something accepts on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2).close()" \
      2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_corio_cmd COMMAND...: runs a corio service (with --port 0 among its arguments) and
# waits (at most 5 s) for its `listening on` line -> sets pid, port.
start_corio_cmd() {
  "$@" >"$work/corio.out" 2>"$work/corio.err" &
  pid=$!
  port=
  for _ in $(seq 50); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/corio.out")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "$1 did not start: $(cat "$work/corio.err")" >&2
  return 1
}

# start_nginx_with WORKERS LISTEN_SUFFIX SERVER_LINES: nginx answering GET /plaintext with
# `return 200 "Hello, World!"`; LISTEN_SUFFIX (e.g. " ssl") and SERVER_LINES (certificate,
# protocols) go into its server block -> sets pid, port.
start_nginx_with() {
  port=$(free_port)
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes $1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port$2;
$3
    location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
  nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  pid=$!
  wait_port "$port" || { echo "nginx did not start: $(cat "$work/nginx/error.log")" >&2; return 1; }
}

cpu_ticks() {  # utime+stime of $pid and its children (nginx's workers)
  local total=0 p
  for p in "$pid" $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    total=$((total + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# ratio A B: A/B to two places, or "-" when either is missing.
ratio() {
  awk -v c="$1" -v n="$2" 'BEGIN { if (n + 0 > 0 && c + 0 > 0) printf "%.2f", c / n; else print "-" }'
}
