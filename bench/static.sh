#!/usr/bin/env bash
# bench/static.sh: static asset throughput of cfhost's asset pipeline
# against Caddy's file_server and nginx.
#
# Serves the same site (a 4 KiB HTML page, a 100 KiB JS file, a 2 MiB image,
# and a _headers file) from each server on 127.0.0.1, one server at a time,
# and runs `wrk -t1 -c32` against each file. Prints requests/s and p99 per
# server and file, the ratios cfhost/Caddy and cfhost/nginx, and the targets
# (4 KiB page: >= 2.0x Caddy and >= 1.0x nginx; 100 KiB file: >= 1.05x nginx;
# 2 MiB image: >= 1.2x nginx with a p99 no worse than nginx's).
#
# The cfhost side is the real binary: `cfhost serve` on a fresh data dir, the
# site deployed with `cfdeploy deploy`, requests addressed to the project by
# Host header (<id>.localhost) — the whole production path with every
# Cloudflare header (ETag, Cache-Control, _headers rules), blobs in SQLite
# behind the in-memory cache. (bench/assetserver serves the same site
# through internal/host/assets alone, for profiling the pipeline.) nginx runs one
# worker process, as the client takes the other core.
#
# The three servers run side by side (idle ones cost nothing) and take turns:
# every round measures each file on cfhost, Caddy and nginx back to back (in
# an order that rotates from round to round and file to file), and
# each figure is the median over the rounds, so that a burst of load from a
# neighbour on this shared machine falls on all three alike rather than
# deciding a ratio. Per-round ratios are printed too, to show the spread.
#
# The issue this answers gives nginx one worker process "as the client takes
# the other core"; the script makes that exact for every server: the servers
# run on CPU 0 and wrk on CPU 1 (taskset), so a Go server's runtime sizes
# itself to the one core it has (GOMAXPROCS follows the CPU affinity) just
# as nginx's single worker does, and no server competes with the load
# generator for a core. Pinning also steadies the figures on this shared
# machine. -u runs everything unpinned, the scheduler free to mix them.
#
# Besides requests/s, each run records the CPU time the server process used
# per request (user + system, from /proc; nginx's worker). On this shared
# machine it moves far less between runs than requests/s does, so it shows
# which server does less work per request even when a round's throughput is
# decided by a neighbour.
#
# Defaults against defaults: cfhost runs as a user starts it, with its
# access log on (to a file, as stderr usually ends up), nginx with its
# default access log (combined format, to a file), Caddy as shipped (its
# file-server logs no requests). -q turns cfhost's and nginx's access logs
# off, for the log-less figures.
#
# -p adds a fourth server taking its turns with the others: cfhost as a
# replica on PostgreSQL (--database, on a throwaway local cluster from
# bench/lib/pg.sh), the same site deployed to it, and prints its requests/s
# and CPU per request against the SQLite build's (target: within 5 %: a
# cache hit touches no database on either).
#
# -P profiles cfhost and nginx after the rounds: one more wrk run per file
# and server under `perf record`, and prints where each one's CPU time per
# request goes — the sendfile call, reading requests, other writes
# (headers, small bodies and access log lines, by write, writev or sendmsg),
# waiting for events (epoll, futexes, sleeps), the rest of the kernel, and
# the server's own code in user space — in µs per request, so the two can
# be compared line by line.
#
# Usage: bench/static.sh [-d DURATION] [-r ROUNDS] [-u] [-q] [-p] [-P]
#        (default 10s per file and server, 3 rounds, pinned, logs on)
# Installs nginx, caddy and wrk (postgresql for -p, perf for -P) with
# apt-get when they are missing.
set -euo pipefail

duration=10s
rounds=3
pinned=1
logs=1
pg=
profile=
while getopts d:r:uqpP opt; do
	case $opt in
	d) duration=$OPTARG ;;
	r) rounds=$OPTARG ;;
	u) pinned= ;;
	q) logs= ;;
	p) pg=1 ;;
	P) profile=1 ;;
	*) echo "usage: $0 [-d DURATION] [-r ROUNDS] [-u] [-q] [-p] [-P]" >&2; exit 2 ;;
	esac
done
if [[ -n $pinned ]] && { ! command -v taskset >/dev/null || (($(nproc) < 2)); }; then
	echo "taskset or a second CPU is missing; running unpinned" >&2
	pinned=
fi
on_server=() on_client=() placement="unpinned"
if [[ -n $pinned ]]; then
	on_server=(taskset -c 0) on_client=(taskset -c 1) placement="servers on CPU 0, wrk on CPU 1"
fi

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib/pg.sh"
work=$(mktemp -d)
chmod 755 "$work" # nginx workers may run as another user
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pg_stop
	rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v caddy >/dev/null || need+=(caddy)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
[[ -z $profile ]] || command -v perf >/dev/null || need+=(linux-perf)
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

if [[ -n $logs ]]; then
	cfhost_log=(--access-log=true) nginx_log="access_log $work/nginx/logs/access.log;" logging="access logs on (cfhost's default logfmt, nginx's combined, to files; Caddy as shipped)"
else
	cfhost_log=(--access-log=false) nginx_log="access_log off;" logging="access logs off"
fi
echo "starting cfhost, Caddy and nginx (1 worker); $logging" >&2
"${on_server[@]}" "$work/cfhost" serve --listen 127.0.0.1:18201 --data-dir "$work/cfhost-data" --api-token bench \
	"${cfhost_log[@]}" 2>"$work/cfhost.log" &
pids+=($!)
wait_up "http://127.0.0.1:18201/__api/health"
export CFDEPLOY_HOST=http://127.0.0.1:18201 CFDEPLOY_TOKEN=bench
project=$("$work/cfdeploy" projects create bench --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
"$work/cfdeploy" deploy "$site" --project "$project" >/dev/null 2>"$work/cfdeploy.log"

XDG_DATA_HOME=$work/caddy-data XDG_CONFIG_HOME=$work/caddy-config \
	"${on_server[@]}" caddy file-server --root "$site" --listen 127.0.0.1:18202 >"$work/caddy.log" 2>&1 &
pids+=($!)

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
	$nginx_log
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
"${on_server[@]}" "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

servers=(cfhost caddy nginx)
ports=(18201 18202 18203)
hosts=("$project.localhost" "" "")
if [[ -n $pg ]]; then
	echo "starting PostgreSQL and cfhost on it (--database)" >&2
	pg_start
	"${on_server[@]}" "$work/cfhost" serve --listen 127.0.0.1:18204 --data-dir "$work/cfhost-pg-data" --api-token bench \
		--database "$(pg_database bench)" "${cfhost_log[@]}" 2>"$work/cfhost-pg.log" &
	pids+=($!)
	wait_up "http://127.0.0.1:18204/__api/health"
	pg_project=$(CFDEPLOY_HOST=http://127.0.0.1:18204 "$work/cfdeploy" projects create bench --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
	CFDEPLOY_HOST=http://127.0.0.1:18204 "$work/cfdeploy" deploy "$site" --project "$pg_project" >/dev/null 2>>"$work/cfdeploy.log"
	servers+=(cfhost-pg) ports+=(18204) hosts+=("$pg_project.localhost")
fi
for s in "${!servers[@]}"; do wait_up "http://127.0.0.1:${ports[$s]}/" "${hosts[$s]}"; done
# The processes whose CPU time counts: nginx's single worker does the work.
nginx_worker=$(pgrep -P "${pids[2]}" | head -1)
cpu_pids=("${pids[0]}" "${pids[1]}" "${nginx_worker:-${pids[2]}}" "${pids[@]:3}")
hz=$(getconf CLK_TCK)
# cpu_ticks PID: user + system time of PID so far, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# cfhost compresses what was just deployed in the background; let it finish.
sleep 3

# run_wrk SERVER_INDEX FILE_INDEX DURATION: wrk's report for one file on one server.
run_wrk() {
	local hdr=()
	[[ -n ${hosts[$1]} ]] && hdr=(-H "Host: ${hosts[$1]}")
	"${on_client[@]}" wrk -t1 -c32 -d"$3" --latency "${hdr[@]}" "http://127.0.0.1:${ports[$1]}${files[$2]}"
}

echo "warming up" >&2
for s in "${!servers[@]}"; do
	for i in "${!files[@]}"; do run_wrk "$s" "$i" 2s >/dev/null; done
done
for round in $(seq 1 "$rounds"); do
	echo "round $round of $rounds" >&2
	for i in "${!files[@]}"; do
		# Each round starts the turns with the next server, so that no
		# server always runs right after the same neighbour (whose
		# connections, caches and log writes it would inherit).
		for k in "${!servers[@]}"; do
			s=$(((k + round + i) % ${#servers[@]}))
			t0=$(cpu_ticks "${cpu_pids[$s]}")
			out=$(run_wrk "$s" "$i" "$duration")
			t1=$(cpu_ticks "${cpu_pids[$s]}")
			if grep -q 'Non-2xx' <<<"$out"; then
				echo "${servers[$s]} ${files[$i]} answered non-2xx responses:" >&2
				echo "$out" >&2
				exit 1
			fi
			rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
			p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
			cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" '/ requests in / { printf "%.2f", t * 1e6 / hz / $1 }' <<<"$out")
			echo "${servers[$s]} ${labels[$i]} $rps $p99 $round $cpu" | tee -a "$results" >&2
		done
	done
done

echo
awk -v duration="$duration" -v rounds="$rounds" -v placement="$placement" -v logging="$logging" '
	function median(a, k,    i, j, t) {
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	function med(s, f, what,    i, a) {
		for (i = 1; i <= rounds; i++) a[i] = (what == "rps" ? rps[s, f, i] : what == "cpu" ? cpu[s, f, i] : p99[s, f, i])
		return median(a, rounds)
	}
	function spread(f, other,    i, r, lo, hi) {
		lo = 1e9; hi = 0
		for (i = 1; i <= rounds; i++) { r = rps["cfhost", f, i] / rps[other, f, i]; if (r < lo) lo = r; if (r > hi) hi = r }
		return sprintf("%.2f-%.2f", lo, hi)
	}
	{ rps[$1, $2, $5] = $3; p99[$1, $2, $5] = $4; cpu[$1, $2, $5] = $6; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
	END {
		printf "wrk -t1 -c32 -d%s, 127.0.0.1, %s, %s, servers taking turns; medians of %d rounds\n\n", duration, placement, logging, rounds
		printf "%-10s  %10s %7s  %10s %7s  %10s %7s  %8s %8s   %s\n", "file", "cfhost r/s", "p99 ms", "caddy r/s", "p99 ms", "nginx r/s", "p99 ms", "cf/caddy", "cf/nginx", "per round: cf/caddy  cf/nginx"
		for (i = 1; i <= n; i++) {
			f = order[i]
			c = med("cfhost", f, "rps"); a = med("caddy", f, "rps"); g = med("nginx", f, "rps")
			ratio_c[f] = c / a; ratio_g[f] = c / g
			printf "%-10s  %10.0f %7.2f  %10.0f %7.2f  %10.0f %7.2f  %7.2fx %7.2fx   %s  %s\n", f,
				c, med("cfhost", f, "p99"), a, med("caddy", f, "p99"), g, med("nginx", f, "p99"),
				ratio_c[f], ratio_g[f], spread(f, "caddy"), spread(f, "nginx")
		}
		printf "\nCPU time of the server process per request, us (medians; lower is better)\n\n"
		printf "%-10s  %10s  %10s  %10s  %14s\n", "file", "cfhost", "caddy", "nginx", "cfhost/nginx"
		for (i = 1; i <= n; i++) {
			f = order[i]
			c = med("cfhost", f, "cpu"); a = med("caddy", f, "cpu"); g = med("nginx", f, "cpu")
			printf "%-10s  %10.2f  %10.2f  %10.2f  %13.2fx\n", f, c, a, g, c / g
		}
		if (("cfhost-pg", "html-4KiB", 1) in rps) {
			printf "\ncfhost on PostgreSQL (--database) against the SQLite build, requests/s and CPU per request (medians)\n\n"
			printf "%-10s  %10s %7s  %10s %7s  %9s  %-11s  %8s %8s %9s\n", "file", "sqlite r/s", "p99 ms", "pg r/s", "p99 ms", "pg/sqlite", "per round", "sqlite us", "pg us", "pg/sqlite"
			worst = 1e9
			for (i = 1; i <= n; i++) {
				f = order[i]
				c = med("cfhost", f, "rps"); q = med("cfhost-pg", f, "rps")
				lo = 1e9; hi = 0
				for (k = 1; k <= rounds; k++) { r = rps["cfhost-pg", f, k] / rps["cfhost", f, k]; if (r < lo) lo = r; if (r > hi) hi = r }
				if (q / c < worst) worst = q / c
				cc = med("cfhost", f, "cpu"); qc = med("cfhost-pg", f, "cpu")
				printf "%-10s  %10.0f %7.2f  %10.0f %7.2f  %8.2fx  %-11s  %9.2f %8.2f %8.2fx\n", f, c, med("cfhost", f, "p99"), q, med("cfhost-pg", f, "p99"),
					q / c, sprintf("%.2f-%.2f", lo, hi), cc, qc, qc / cc
			}
			printf "\ntarget: PostgreSQL replica within 5%% of the SQLite build (>= 0.95x on every file): worst %.2fx %s\n", worst, (worst >= 0.95 ? "met" : "MISSED")
		}
		c = ratio_c["html-4KiB"]; g = ratio_g["html-4KiB"]; j = ratio_g["js-100KiB"]; m = ratio_g["img-2MiB"]
		pc = med("cfhost", "img-2MiB", "p99"); pg = med("nginx", "img-2MiB", "p99")
		printf "\ntargets: 4 KiB page >= 2.0x Caddy: %.2fx %s; >= 1.0x nginx: %.2fx %s; 100 KiB >= 1.05x nginx: %.2fx %s; 2 MiB >= 1.2x nginx: %.2fx %s, p99 <= nginx: %.1f vs %.1f ms %s\n",
			c, (c >= 2.0 ? "met" : "MISSED"), g, (g >= 1.0 ? "met" : "MISSED"), j, (j >= 1.05 ? "met" : "MISSED"),
			m, (m >= 1.2 ? "met" : "MISSED"), pc, pg, (pc <= pg ? "met" : "MISSED")
	}' "$results"

[[ -n $profile ]] || exit 0

# Where the CPU time per request goes, from one more profiled run per file
# and server. Shares come from perf's call graphs (a kernel function's share
# includes what it calls), times from the process's CPU time in that run.
echo
echo "where the CPU time per request goes (us; one profiled wrk run of $duration per file and server)"
printf "\n%-10s %-7s %8s %9s %8s %8s %8s %8s %8s\n" file server total sendfile reading writing waiting kernel user
for i in "${!files[@]}"; do
	for s in 0 2; do
		data=$work/perf-$s-$i.data
		t0=$(cpu_ticks "${cpu_pids[$s]}")
		perf record -q -F 2000 -g -p "${cpu_pids[$s]}" -o "$data" 2>/dev/null &
		perf_pid=$!
		sleep 0.5
		out=$(run_wrk "$s" "$i" "$duration")
		kill -INT "$perf_pid"
		wait "$perf_pid" 2>/dev/null || true
		t1=$(cpu_ticks "${cpu_pids[$s]}")
		cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" '/ requests in / { printf "%.2f", t * 1e6 / hz / $1 }' <<<"$out")
		{
			perf report -i "$data" --no-children --sort dso 2>/dev/null | awk '/^ +[0-9.]+%/ && /\[kernel/ { sub(/%/, "", $1); print "KERNEL", $1 }'
			perf report -i "$data" --children --sort symbol 2>/dev/null | awk '/^ +[0-9.]+%/ { sub(/%/, "", $1); print $4, $1 }'
		} | awk -v f="${labels[$i]}" -v srv="${servers[$s]}" -v cpu="$cpu" '
			{ if (!($1 in v)) v[$1] = $2 }
			END {
				send = v["do_sendfile"]; rd = v["ksys_read"] + v["__sys_recvfrom"]
				wr = v["__sys_sendmsg"] + v["do_writev"] + v["ksys_write"]; wt = v["do_epoll_wait"] + v["do_futex"] + v["hrtimer_nanosleep"]
				k = v["KERNEL"]; rest = k - send - rd - wr - wt
				if (rest < 0) rest = 0
				printf "%-10s %-7s %8.1f %9.1f %8.1f %8.1f %8.1f %8.1f %8.1f\n", f, srv, cpu,
					cpu * send / 100, cpu * rd / 100, cpu * wr / 100, cpu * wt / 100, cpu * rest / 100, cpu * (100 - k) / 100
			}'
	done
done
