#!/usr/bin/env bash
# HTTPS: a corio TLS server beside nginx with the same certificate (EC P-256, made here) and the
# same protocol and cipher (TLS 1.3, TLS_AES_256_GCM_SHA384), in one run on one machine:
#   keep-alive   wrk -t2 -c64 GET /plaintext over established TLS connections;
#   handshakes   the same with `Connection: close`: a new connection per request;
#   ab-new-conn  `ab -c64` without -k: a new connection and a full handshake (ab never resumes
#                a session) per request, --duration x 1000 requests.
# Prints requests/s, the server's CPU per request (utime+stime from /proc over the run), and the
# ratio to nginx. nginx is skipped (corio alone) when it is not installed.
# usage: bench/services/https_bench.sh SERVER_BINARY [--duration S] [--backend B] [-- ARGS...]
#   SERVER_BINARY must take --port 0 --tls-cert F --tls-key F [--backend B], print the
#   services' `listening on` line and answer GET /plaintext; ARGS are added to its command line.
#   The target is `build/examples/http_server` (HTTPS with --tls-cert/--tls-key);
#   `build/examples/tls/tls_echo_server -- --http-hello` works too.
# Kernel TLS: corio's streams keep the record layer in user space (see the README's TLS
# section); the script prints tls_echo_server's view of whether kTLS exists here at all.
# Bounded: each wrk run lasts --duration (default 3 s) under `timeout`; about 20 s in all.
# Only the processes started here are stopped, by PID. Loopback only.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SERVER_BINARY [--duration S] [--backend B] [-- ARGS...]" >&2
  exit 2
fi
server=$1
shift
duration=3
backend=auto
extra_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then
    shift
    extra_args=("$@")
    break
  fi
  [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
  case $1 in
    --duration) duration=$2 ;;
    --backend) backend=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
for tool in wrk openssl python3; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
have_nginx=1
command -v nginx >/dev/null || have_nginx=0

. "$(dirname "$0")/http_common.sh"
bench_init https-bench

# One certificate for both servers, made now (nothing checked in expires).
(
  cd "$work" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
    -out cert.pem -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
) || { echo "openssl could not make a certificate" >&2; exit 1; }

start_corio() {  # -> sets pid, port
  start_corio_cmd "$server" --port 0 --backend "$backend" --tls-cert "$work/cert.pem" \
    --tls-key "$work/key.pem" "${extra_args[@]}"
}

start_nginx() {  # -> sets pid, port: one worker, the same certificate, TLS 1.3 only
  start_nginx_with 1 " ssl" "    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;"
}

# run_wrk MODE -> prints "requests/s cpu-microseconds-per-request"
run_wrk() {
  local extra=()
  [ "$1" = handshakes ] && extra=(-H "Connection: close")
  local before after
  before=$(cpu_ticks)
  timeout $((duration + 10)) wrk -t2 -c64 -d"${duration}s" "${extra[@]}" \
    "https://127.0.0.1:$port/plaintext" >"$work/wrk.log" 2>&1 || { echo "error -"; return; }
  after=$(cpu_ticks)
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /^Requests\/sec/ { rate = $2 }
    /requests in/ { n = $1 }
    END { if (n > 0) printf "%.0f %.1f", rate, ticks * 1e6 / hz / n; else print "error -" }' \
    "$work/wrk.log"
}

# run_ab -> prints "handshakes/s cpu-microseconds-per-handshake": ab without -k opens a new
# connection, with a full TLS handshake (ab never resumes a session), for every request.
run_ab() {
  local before after n=$((duration * 1000))
  before=$(cpu_ticks)
  timeout $((duration * 10 + 10)) ab -q -n "$n" -c 64 -s 5 \
    "https://127.0.0.1:$port/plaintext" >"$work/ab.log" 2>&1 || { echo "error -"; return; }
  after=$(cpu_ticks)
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /^Requests per second/ { rate = $4 }
    /^Complete requests/ { n = $3 }
    /^Failed requests/ { failed = $3 }
    END { if (n > 0 && failed == 0) printf "%.0f %.1f", rate, ticks * 1e6 / hz / n; else print "error -" }' \
    "$work/ab.log"
}

declare -A result
who_list=(corio)
[ "$have_nginx" = 1 ] && who_list+=(nginx)
for who in "${who_list[@]}"; do
  "start_$who" || exit 1
  for mode in keepalive handshakes; do
    result[$who,$mode]=$(run_wrk "$mode")
  done
  if command -v ab >/dev/null; then
    result[$who,ab-new-conn]=$(run_ab)
  else
    result[$who,ab-new-conn]="- -"
  fi
  stop
done

echo
echo "wrk -t2 -c64 -d${duration}s GET /plaintext over TLS 1.3 on 127.0.0.1 ($(nproc) CPUs; wrk shares them)"
printf '%-12s %-11s %12s %14s %12s %8s\n' server mode requests/s "CPU us/req" nginx ratio
for mode in keepalive handshakes ab-new-conn; do
  read -r c c_cpu <<<"${result[corio,$mode]}"
  n=-
  n_cpu=-
  [ "$have_nginx" = 1 ] && read -r n n_cpu <<<"${result[nginx,$mode]}"
  ratio=$(ratio "$c" "$n")
  printf '%-12s %-11s %12s %14s %12s %8s\n' corio "$mode" "$c" "$c_cpu" "$n" "$ratio"
  [ "$have_nginx" = 1 ] && printf '%-12s %-11s %12s %14s\n' nginx "$mode" "$n" "$n_cpu"
done
[ "$have_nginx" = 1 ] || echo "(nginx is not installed: corio alone)"
echo "kTLS: $(python3 -c '
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname())
try:
    c.setsockopt(socket.IPPROTO_TCP, 31, b"tls"); print("the kernel offers it (corio does not use it yet)")
except OSError as e:
    print("not offered by this kernel (TCP_ULP tls: %s); user-space TLS only" % e.strerror)
')"
