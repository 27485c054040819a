#!/usr/bin/env bash
# bench/worker.sh: server code throughput and latency, against a native Go
# baseline.
#
# Serves the same "Hello from WebAssembly!" response three ways, measured
# with `wrk -t1 -c4`:
#   native  a Go net/http handler (bench/workerserver -native, the baseline)
#   go      examples/go-hello built with GOOS=wasip1 (net/http + cgi.Serve)
#   goguest examples/go-guest, the same handler in guest mode (pkg/guest, a
#           reactor whose pooled instance serves every request)
#   c       bench/cguest/hello.c built with clang + wasi-libc
# The two guests run in the real cfhost binary: deployed with
# `cfdeploy deploy --server`, requested by Host header <id>.localhost, so
# routing, the asset dry run and the worker runtime are all on the path.
# and prints requests/s, p50 and p99, the ratios to native, and the targets
# (Go >= 250 req/s with p99 <= 20 ms; Go in guest mode >= 5,000 req/s with
# p99 <= 5 ms; C >= 5,000 req/s).
#
# Usage: bench/worker.sh [-d DURATION]   (default 10s per target)
# Installs wrk, clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 with
# apt-get when they are missing.
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
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v clang >/dev/null || need+=(clang)
command -v wasm-ld >/dev/null || command -v wasm-ld-14 >/dev/null || need+=(lld)
[[ -e /usr/lib/wasm32-wasi/libc.a ]] || need+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev-wasm32)
if ((${#need[@]})); then
	echo "installing ${need[*]}" >&2
	sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get install -y -q "${need[@]}" >&2
fi

echo "building guests and server" >&2
(cd "$root" && GOOS=wasip1 GOARCH=wasm go build -o "$work/go-hello.wasm" ./examples/go-hello)
(cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$work/go-guest.wasm" ./examples/go-guest)
clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -o "$work/c-hello.wasm" "$root/bench/cguest/hello.c"
(cd "$root" && go build -o "$work/" ./bench/workerserver ./cmd/cfhost ./cmd/cfdeploy)
mkdir -p "$work/empty-site"

port=18181
url="http://127.0.0.1:$port/"

# measure NAME native|WASM: start the server (workerserver for native, cfhost
# with WASM deployed otherwise), warm it up, run wrk and print
# "NAME req/s p50_ms p99_ms".
measure() {
	local name=$1 what=$2 hdr=()
	if [[ $what == native ]]; then
		"$work/workerserver" -addr "127.0.0.1:$port" -native >"$work/$name.log" 2>&1 &
		server_pid=$!
	else
		rm -rf "$work/data-$name"
		"$work/cfhost" serve --listen "127.0.0.1:$port" --data-dir "$work/data-$name" --api-token bench \
			--access-log=false >"$work/$name.log" 2>&1 &
		server_pid=$!
		for _ in $(seq 100); do curl -fsS -o /dev/null "${url}__api/health" 2>/dev/null && break; sleep 0.1; done
		local project
		project=$(CFDEPLOY_HOST=${url%/} CFDEPLOY_TOKEN=bench "$work/cfdeploy" projects create "$name" --json |
			sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
		CFDEPLOY_HOST=${url%/} CFDEPLOY_TOKEN=bench "$work/cfdeploy" deploy "$work/empty-site" --project "$project" \
			--server "$what" >/dev/null 2>>"$work/$name.log"
		hdr=(-H "Host: $project.localhost")
	fi
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "${hdr[@]}" "$url" 2>/dev/null && break
		sleep 0.1
	done
	local body
	body=$(curl -fsS "${hdr[@]}" "$url")
	if [[ $body != "Hello from WebAssembly!" ]]; then
		echo "$name: unexpected response: $body" >&2
		cat "$work/$name.log" >&2
		exit 1
	fi
	wrk -t1 -c4 -d2s "${hdr[@]}" "$url" >/dev/null # warm-up
	wrk -t1 -c4 -d"$duration" --latency "${hdr[@]}" "$url" >"$work/$name.wrk"
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	if grep -q "Non-2xx" "$work/$name.wrk"; then
		echo "$name: errors during the run:" >&2
		cat "$work/$name.wrk" >&2
		exit 1
	fi
	awk -v name="$name" '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v)-2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v)-2) + 0
			if (v ~ /s$/)  return substr(v, 1, length(v)-1) * 1000
			return v
		}
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		$1 == "Requests/sec:" { rps = $2 }
		END { printf "%s %.0f %.3f %.3f\n", name, rps, p50, p99 }
	' "$work/$name.wrk"
}

results=$(
	measure native native
	measure go "$work/go-hello.wasm"
	measure goguest "$work/go-guest.wasm"
	measure c "$work/c-hello.wasm"
)

echo
echo "wrk -t1 -c4 -d$duration, $(nproc) cores, $(go version | awk '{print $3}')"
echo "$results" | awk '
	{ name[NR] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
	END {
		printf "%-8s %10s %10s %10s %12s\n", "target", "req/s", "p50 ms", "p99 ms", "vs native"
		for (i = 1; i <= NR; i++) {
			n = name[i]
			printf "%-8s %10d %10.3f %10.3f %11.3fx\n", n, rps[n], p50[n], p99[n], rps[n] / rps["native"]
		}
		print ""
		printf "target go >= 250 req/s and p99 <= 20 ms: %s\n", (rps["go"] >= 250 && p99["go"] <= 20) ? "met" : "MISSED"
		printf "target goguest >= 5000 req/s and p99 <= 5 ms: %s\n", (rps["goguest"] >= 5000 && p99["goguest"] <= 5) ? "met" : "MISSED"
		printf "target c  >= 5000 req/s:                 %s\n", (rps["c"] >= 5000) ? "met" : "MISSED"
	}'
