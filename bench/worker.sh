#!/usr/bin/env bash
# bench/worker.sh: server code throughput and latency, against a native Go
# baseline.
#
# Serves the same "Hello from WebAssembly!" response several ways, measured
# with `wrk -t1 -c4`:
#   native  a Go net/http handler (bench/workerserver -native, the baseline)
#   go      examples/go-hello built with GOOS=wasip1 (net/http + cgi.Serve)
#   goguest examples/go-guest, the same handler in guest mode (pkg/guest, a
#           reactor whose pooled instance serves every request)
#   c       bench/cguest/hello.c built with clang + wasi-libc
#   js      a JavaScript Worker (bench/jsguest/hello.js): QuickJS in wasm,
#           the default hard deadline on
#   hono    TestJSHono's Hono app (test/e2e/testdata/hono), bundled by cfdeploy, when that
#           fixture exists (GET /api/hello)
#   loop    not a server: a 1e6-iteration JS loop in one request, with the
#           hard deadline (the engine's wasmstop probes) on and off,
#           in-process (BenchmarkLoop of internal/host/jsrt), CPU time each
# The guests run in the real cfhost binary with its default flags: deployed
# with `cfdeploy deploy --server`, requested by Host header <id>.localhost,
# so routing, the asset dry run and the server-code runtime are all on the
# path. As in bench/static.sh, servers run on CPU 0 and wrk on CPU 1
# (taskset), so neither competes with the other for a core and a Go
# server's runtime sizes itself to the core it has; -u runs unpinned.
#
# Prints requests/s, p50, p99, the CPU time the server used per request
# (user + system from /proc: on this shared machine it moves far less than
# requests/s), the ratios to native, the JS first request after a deploy
# (five fresh deployments, each timed from the end of `cfdeploy deploy` to
# the first response: the new instance, the engine's runtime, the shim and
# the modules are all on it), and the targets (Go >= 250 req/s with p99 <=
# 20 ms; Go in guest mode >= 5,000 req/s with p99 <= 5 ms; C >= 5,000
# req/s; JS hello >= 2,000 req/s with p99 <= 10 ms; Hono >= 1,000 req/s;
# first JS request <= 50 ms).
#
# Usage: bench/worker.sh [-d DURATION] [-u] [-t TARGET,...]
#   (default 10s per target, pinned, every target; e.g. -t native,js,loop)
# Installs wrk, clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 with
# apt-get when they are missing.
set -euo pipefail

duration=10s
pinned=1
targets=native,go,goguest,c,js,hono,loop
while getopts d:ut: opt; do
	case $opt in
	d) duration=$OPTARG ;;
	u) pinned= ;;
	t) targets=$OPTARG ;;
	*) echo "usage: $0 [-d DURATION] [-u] [-t TARGET,...]" >&2; exit 2 ;;
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
want() { [[ ,$targets, == *,$1,* ]]; }

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
if want c; then
	command -v clang >/dev/null || need+=(clang)
	command -v wasm-ld >/dev/null || command -v wasm-ld-14 >/dev/null || need+=(lld)
	[[ -e /usr/lib/wasm32-wasi/libc.a ]] || need+=(wasi-libc)
	ls /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev-wasm32)
fi
if want hono && [[ -z ${HONO:-} ]]; then command -v npm >/dev/null || need+=(nodejs npm); fi
if ((${#need[@]})); then
	echo "installing ${need[*]}" >&2
	sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get install -y -q "${need[@]}" >&2
fi

# The Hono app is TestJSHono's fixture with the hono release that test pins
# (version and tarball sha256 read from it), fetched with npm pack.
hono_entry=${HONO:-}
if want hono && [[ -z $hono_entry ]]; then
	hono_test=$root/test/e2e/js_hono_test.go
	hono_version=$(sed -n 's/^\thonoVersion *= *"\(.*\)"/\1/p' "$hono_test")
	hono_sha=$(sed -n 's/^\thonoSHA256 *= *"\(.*\)"/\1/p' "$hono_test")
	cp -r "$root/test/e2e/testdata/hono" "$work/hono"
	mkdir -p "$work/hono/node_modules/hono" "$work/npm"
	if (cd "$work/npm" && npm pack "hono@$hono_version" --silent >/dev/null 2>&1) &&
		echo "$hono_sha  $work/npm/hono-$hono_version.tgz" | sha256sum -c --quiet; then
		tar -xzf "$work/npm/hono-$hono_version.tgz" -C "$work/hono/node_modules/hono" --strip-components=1
		hono_entry=$work/hono/src/index.ts
	fi
fi
if want hono && [[ -z $hono_entry ]]; then
	echo "could not fetch hono with npm (or HONO=ENTRYPOINT): skipping hono" >&2
	targets=${targets//hono/}
fi

echo "building guests and server" >&2
if want go; then (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -o "$work/go-hello.wasm" ./examples/go-hello); fi
if want goguest; then (cd "$root" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$work/go-guest.wasm" ./examples/go-guest); fi
if want c; then clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -o "$work/c-hello.wasm" "$root/bench/cguest/hello.c"; fi
(cd "$root" && go build -o "$work/" ./bench/workerserver ./cmd/cfhost ./cmd/cfdeploy)
mkdir -p "$work/empty-site"
hz=$(getconf CLK_TCK)

port=18181
url="http://127.0.0.1:$port/"
export CFDEPLOY_HOST=${url%/} CFDEPLOY_TOKEN=bench

# cpu_ticks PID: user + system time of PID so far, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# start_cfhost NAME: a cfhost with default flags on a fresh data dir.
start_cfhost() {
	rm -rf "$work/data-$1"
	"${on_server[@]}" "$work/cfhost" serve --listen "127.0.0.1:$port" --data-dir "$work/data-$1" --api-token bench \
		--access-log=false >"$work/$1.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do curl -fsS -o /dev/null "${url}__api/health" 2>/dev/null && break; sleep 0.1; done
}

stop_server() {
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# new_project NAME: prints the id of a new project.
new_project() {
	"$work/cfdeploy" projects create "$1" --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1
}

# measure NAME native|ENTRYPOINT [PATH [BODY]]: start the server
# (workerserver for native, cfhost with ENTRYPOINT deployed otherwise), warm
# it up, run wrk on PATH, expecting BODY, and print
# "NAME req/s p50_ms p99_ms cpu_us_per_request".
measure() {
	local name=$1 what=$2 path=${3:-/} want=${4-Hello from WebAssembly!} hdr=()
	if [[ $what == native ]]; then
		"${on_server[@]}" "$work/workerserver" -addr "127.0.0.1:$port" -native >"$work/$name.log" 2>&1 &
		server_pid=$!
	else
		start_cfhost "$name"
		local project
		project=$(new_project "$name")
		"$work/cfdeploy" deploy "$work/empty-site" --allow-empty --project "$project" \
			--server "$what" >/dev/null 2>>"$work/$name.log"
		hdr=(-H "Host: $project.localhost")
	fi
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "${hdr[@]}" "$url${path#/}" 2>/dev/null && break
		sleep 0.1
	done
	local body
	body=$(curl -fsS "${hdr[@]}" "$url${path#/}")
	if [[ $body != "$want"* ]]; then
		echo "$name: unexpected response: $body" >&2
		cat "$work/$name.log" >&2
		exit 1
	fi
	"${on_client[@]}" wrk -t1 -c4 -d2s "${hdr[@]}" "$url${path#/}" >/dev/null # warm-up
	local t0 t1
	t0=$(cpu_ticks "$server_pid")
	"${on_client[@]}" wrk -t1 -c4 -d"$duration" --latency "${hdr[@]}" "$url${path#/}" >"$work/$name.wrk"
	t1=$(cpu_ticks "$server_pid")
	stop_server
	if grep -q "Non-2xx" "$work/$name.wrk"; then
		echo "$name: errors during the run:" >&2
		cat "$work/$name.wrk" >&2
		exit 1
	fi
	awk -v name="$name" -v t=$((t1 - t0)) -v hz="$hz" '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v)-2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v)-2) + 0
			if (v ~ /s$/)  return substr(v, 1, length(v)-1) * 1000
			return v
		}
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		$1 == "Requests/sec:" { rps = $2 }
		/ requests in / { n = $1 }
		END { printf "%s %.0f %.3f %.3f %.1f\n", name, rps, p50, p99, t * 1e6 / hz / n }
	' "$work/$name.wrk"
}

# first_request ENTRYPOINT: deploys ENTRYPOINT five times (a new deployment
# each time: the env variable changes) and prints "first ms,ms,..." with the
# time from the end of each deploy to its first response, instance creation
# and module evaluation included.
first_request() {
	start_cfhost first
	local project times=() i t
	project=$(new_project first)
	for i in 1 2 3 4 5; do
		"$work/cfdeploy" deploy "$work/empty-site" --allow-empty --project "$project" --server "$1" \
			--env "RUN=$i" >/dev/null 2>>"$work/first.log"
		t=$("${on_client[@]}" curl -fsS -o /dev/null -w '%{time_total}' -H "Host: $project.localhost" "$url")
		times+=("$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')")
	done
	stop_server
	echo "first $(IFS=,; echo "${times[*]}")"
}

mkdir -p "$work/js"
cat >"$work/js/hello.js" <<'JS'
export default {
  fetch() {
    return new Response("Hello from WebAssembly!");
  },
};
JS

results=$(
	if want native; then measure native native; fi
	if want go; then measure go "$work/go-hello.wasm"; fi
	if want goguest; then measure goguest "$work/go-guest.wasm"; fi
	if want c; then measure c "$work/c-hello.wasm"; fi
	if want js; then measure js "$work/js/hello.js"; fi
	if want hono; then measure hono "$hono_entry" /api/hello ""; fi
	if want js; then first_request "$work/js/hello.js"; fi
	if want loop; then
		(cd "$root" && "${on_server[@]}" go test -run '^$' -bench '^BenchmarkLoop$' -benchtime=5x ./internal/host/jsrt) |
			awk '/^BenchmarkLoop\/hardstop=/ { split($1, a, "[=-]"); for (i = 1; i <= NF; i++) if ($(i+1) == "cpu-us/op") c = $i; printf "loop-%s %.0f %.0f\n", a[2], $3 / 1e6, c / 1e3 }'
	fi
)

echo
echo "wrk -t1 -c4 -d$duration, $(nproc) cores, $placement, $(go version | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$results" | awk '
	$1 == "first" { first = $2; next }
	$1 ~ /^loop-/ { loop[substr($1, 6)] = $2; loopcpu[substr($1, 6)] = $3; next }
	{ name[++n] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4; cpu[$1] = $5 }
	function has(t) { return t in rps }
	END {
		if (n) printf "%-8s %10s %10s %10s %12s %12s\n", "target", "req/s", "p50 ms", "p99 ms", "cpu us/req", "vs native"
		for (i = 1; i <= n; i++) {
			t = name[i]
			printf "%-8s %10d %10.3f %10.3f %12.1f", t, rps[t], p50[t], p99[t], cpu[t]
			if (has("native") && rps["native"] > 0) printf " %11.3fx", rps[t] / rps["native"]
			printf "\n"
		}
		print ""
		if (has("go")) printf "target go >= 250 req/s and p99 <= 20 ms:        %s\n", (rps["go"] >= 250 && p99["go"] <= 20) ? "met" : "MISSED"
		if (has("goguest")) printf "target goguest >= 5000 req/s and p99 <= 5 ms:  %s\n", (rps["goguest"] >= 5000 && p99["goguest"] <= 5) ? "met" : "MISSED"
		if (has("c")) printf "target c >= 5000 req/s:                        %s\n", (rps["c"] >= 5000) ? "met" : "MISSED"
		if (has("js")) printf "target js >= 2000 req/s and p99 <= 10 ms:      %s\n", (rps["js"] >= 2000 && p99["js"] <= 10) ? "met" : "MISSED"
		if (has("hono")) printf "target hono >= 1000 req/s:                     %s\n", (rps["hono"] >= 1000) ? "met" : "MISSED"
		if (first != "") {
			k = split(first, f, ",")
			worst = 0
			for (i = 1; i <= k; i++) if (f[i] + 0 > worst) worst = f[i] + 0
			printf "first JS request after a deploy, ms: %s (worst %.1f)\n", first, worst
			printf "target first request <= 50 ms:                 %s\n", (worst <= 50) ? "met" : "MISSED"
		}
		if ("on" in loop) printf "1e6-iteration JS loop: hard deadline on %d ms (CPU %d ms), off %d ms (CPU %d ms): %.1fx\n", loop["on"], loopcpu["on"], loop["off"], loopcpu["off"], (loopcpu["off"] > 0 ? loopcpu["on"] / loopcpu["off"] : 0)
	}'
