#!/usr/bin/env bash
# bench/static.sh: static asset throughput of cfhost's asset pipeline
# against Caddy's file_server and nginx.
#
# Serves the same site (a 4 KiB HTML page, a 100 KiB JS file, a 2 MiB image,
# and a _headers file) from each server on 127.0.0.1, one server at a time,
# and runs `wrk -t1 -c32` against each file. Prints requests/s and p99 per
# server and file, the ratios cfhost/Caddy and cfhost/nginx, and the targets
# (4 KiB page: >= 1.8x Caddy and >= 0.6x nginx; 100 KiB file: >= 1.0x nginx).
#
# The cfhost side is the real binary: `cfhost serve` on a fresh data dir, the
# site deployed with `cfdeploy deploy`, requests addressed to the project by
# Host header (<id>.localhost) — the whole production path with every
# Cloudflare header (ETag, Cache-Control, _headers rules), blobs in SQLite
# behind the in-memory cache. (bench/assetserver serves the same site
# through pkg/host/assets alone, for profiling the pipeline.) nginx runs one
# worker process, as the client takes the other core.
#
# Usage: bench/static.sh [-d DURATION]   (default 10s per file and server)
# Installs nginx, caddy and wrk with apt-get when they are missing.
set -euo pipefail

duration=10s
while getopts d: opt; do
	case $opt in
	d) duration=$OPTARG ;;
	*) echo "usage: $0 [-d DURATION]" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
chmod 755 "$work" # nginx workers may run as another user
server_pid=
stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v caddy >/dev/null || need+=(caddy)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
if ((${#need[@]})); then
	echo "installing ${need[*]}" >&2
	sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -q >&2
	$sudo apt-get install -y -q "${need[@]}" >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

echo "building cfhost, cfdeploy and the site" >&2
(cd "$root" && go build -o "$work/" ./cmd/cfhost ./cmd/cfdeploy)
site=$work/site
mkdir -p "$site/assets" "$site/img"
# A 4 KiB HTML page, a 100 KiB script, a 2 MiB image (random, incompressible).
{
	printf '<!doctype html>\n<html><head><meta charset="utf-8"><title>bench</title></head><body>\n'
	for i in $(seq 1 300); do printf '<p>line %03d</p>\n' "$i"; done
} >"$site/index.html"
truncate -s 4096 "$site/index.html"
for i in $(seq 1 6400); do printf 'console.log(%05d);\n' "$i"; done >"$site/assets/app.js"
truncate -s 102400 "$site/assets/app.js"
dd if=/dev/urandom of="$site/img/photo.jpg" bs=1M count=2 status=none
cat >"$site/_headers" <<'EOF'
/*
  X-Frame-Options: DENY
  X-Content-Type-Options: nosniff
/assets/*
  Cache-Control: public, max-age=31536000, immutable
EOF

files=("/" "/assets/app.js" "/img/photo.jpg")
labels=("html-4KiB" "js-100KiB" "img-2MiB")

# wait_up URL [HOST]: wait until the server answers.
wait_up() {
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null ${2:+-H "Host: $2"} "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "server at $1 did not come up" >&2
	return 1
}

# to_ms VALUE: wrk's latency with unit (us, ms, s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}

results=$work/results
: >"$results"

# measure SERVER PORT [HOST]: wrk each file, append "SERVER LABEL req/s p99_ms".
measure() {
	local server=$1 port=$2 host=${3:-} i
	local hdr=()
	[[ -n $host ]] && hdr=(-H "Host: $host")
	wait_up "http://127.0.0.1:$port/" "$host"
	for i in "${!files[@]}"; do
		local url="http://127.0.0.1:$port${files[$i]}"
		curl -fsS -o /dev/null "${hdr[@]}" "$url"
		wrk -t1 -c32 -d2s "${hdr[@]}" "$url" >/dev/null # warm-up
		local out rps p99
		out=$(wrk -t1 -c32 -d"$duration" --latency "${hdr[@]}" "$url")
		rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
		p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
		if grep -q 'Non-2xx' <<<"$out"; then
			echo "$server $url answered non-2xx responses:" >&2
			echo "$out" >&2
			exit 1
		fi
		echo "$server ${labels[$i]} $rps $p99" | tee -a "$results" >&2
	done
}

echo "cfhost serve" >&2
"$work/cfhost" serve --listen 127.0.0.1:18201 --data-dir "$work/cfhost-data" --api-token bench \
	--access-log=false 2>"$work/cfhost.log" &
server_pid=$!
wait_up "http://127.0.0.1:18201/__api/health"
export CFDEPLOY_HOST=http://127.0.0.1:18201 CFDEPLOY_TOKEN=bench
project=$("$work/cfdeploy" projects create bench --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
"$work/cfdeploy" deploy "$site" --project "$project" >/dev/null 2>"$work/cfdeploy.log"
measure cfhost 18201 "$project.localhost"
stop_server

echo "caddy file_server" >&2
XDG_DATA_HOME=$work/caddy-data XDG_CONFIG_HOME=$work/caddy-config \
	caddy file-server --root "$site" --listen 127.0.0.1:18202 >"$work/caddy.log" 2>&1 &
server_pid=$!
measure caddy 18202
stop_server

echo "nginx (1 worker)" >&2
mkdir -p "$work/nginx/logs"
user_line=
[[ $(id -u) -eq 0 ]] && user_line="user root;"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	include /etc/nginx/mime.types;
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server {
		listen 127.0.0.1:18203;
		root $site;
		index index.html;
	}
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
server_pid=$!
measure nginx 18203
stop_server

echo
awk -v duration="$duration" '
	{ rps[$1, $2] = $3; p99[$1, $2] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
	END {
		printf "wrk -t1 -c32 -d%s, 127.0.0.1, one server at a time\n\n", duration
		printf "%-10s  %12s %8s  %12s %8s  %12s %8s  %9s %9s\n", "file", "cfhost r/s", "p99 ms", "caddy r/s", "p99 ms", "nginx r/s", "p99 ms", "cf/caddy", "cf/nginx"
		for (i = 1; i <= n; i++) {
			f = order[i]
			printf "%-10s  %12.0f %8.2f  %12.0f %8.2f  %12.0f %8.2f  %8.2fx %8.2fx\n", f,
				rps["cfhost", f], p99["cfhost", f], rps["caddy", f], p99["caddy", f], rps["nginx", f], p99["nginx", f],
				rps["cfhost", f] / rps["caddy", f], rps["cfhost", f] / rps["nginx", f]
		}
		c = rps["cfhost", "html-4KiB"] / rps["caddy", "html-4KiB"]
		g = rps["cfhost", "html-4KiB"] / rps["nginx", "html-4KiB"]
		j = rps["cfhost", "js-100KiB"] / rps["nginx", "js-100KiB"]
		printf "\ntargets: 4 KiB page >= 1.8x Caddy: %.2fx %s; >= 0.6x nginx: %.2fx %s; 100 KiB >= 1.0x nginx: %.2fx %s\n",
			c, (c >= 1.8 ? "met" : "MISSED"), g, (g >= 0.6 ? "met" : "MISSED"), j, (j >= 1.0 ? "met" : "MISSED")
	}' "$results"
