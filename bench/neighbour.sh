#!/usr/bin/env bash
# bench/neighbour.sh: what each tenant attack costs a neighbour.
#
# One cfhost, started as a user runs it (defaults, access log on, to a
# file), hosts a victim project (a 4 KiB HTML page and server code, the
# slow guest of test/e2e/testdata/guests built with GOOS=wasip1) and one
# attacker project per attack, deployed by bench/attacker with the SDK
# cfdeploy uses. For each attack the script measures the victim's static
# page with `wrk -t1 -c32` with no attack, then with the attack running
# (bench/attacker run), and asks the victim's server code for one answer
# while the attack is still on. The attacks, as mounted against the real
# binary in test/e2e/hostile_*_test.go, after a control:
#   plain    8 connections asking another project for a plain page, one
#            request per connection, as the request attacks below do: what
#            any busy neighbour costs on a shared core
#   amplify  _headers and _redirects repeating :splat 300/250 times, 8
#            connections sending 10 KiB paths
#   maximal  100 redirects and 100 header blocks of ten placeholders, 8
#            connections sending 16,000-byte paths none of them matches
#   trickle  300 connections to the attacker's server code, each declaring
#            a 10 MiB body and sending 1 KiB of it every 3 s
#   deep404  not_found_handling 404-page, 8 connections sending /a/ x 8000
#   flood    140 requests that each hold the attacker's server code 20 s
#   rebuild  redeploying a 100,000-path site, then 50 concurrent first
#            requests for it, over and over
#   auth     8 connections sending API requests with a wrong token, from
#            127.0.0.1: the same address the victim's load comes from
#            (the rebuild attacker sends from 127.0.0.2, so that the
#            lockout of 127.0.0.1 does not stop its deploys)
# The target: under every attack the victim keeps >= 50 % of its
# unattacked static throughput (PASS/MISS) and its server code answers
# (status and time of one request). "vs control" divides an attack's ratio
# by the control's: below 1 the attack costs more than plain traffic on
# as many connections.
#
# Each attack's baseline is measured just before it, and every figure is a
# median over rounds that go round all the attacks, so that a burst of load
# from a neighbour on this shared machine falls on baseline and attack
# alike. cfhost runs on CPU 0; wrk and the attacker share CPU 1 (taskset),
# so what an attack costs the victim is the server's work, not the load
# generator's. -u runs everything unpinned.
#
# Usage: bench/neighbour.sh [-d DURATION] [-r ROUNDS] [-w SETTLE] [-u] [-q] [-a "ATTACK ..."] [-x "SERVE FLAGS"]
#        (default 10s per measurement, 3 rounds, 3s for an attack to build
#        up before measuring, pinned, access log on, every attack; -q turns
#        the access log off, to see what logging long attack paths costs;
#        -x passes more flags to cfhost serve, e.g. -x "--worker-concurrency 2")
# Installs wrk with apt-get when it is missing. PORT sets cfhost's port
# (default 18301), for a machine where another run holds it.
set -euo pipefail

duration=10s
rounds=3
settle=3
pinned=1
logs=1
extra=
list="plain amplify maximal trickle deep404 flood rebuild auth"
while getopts d:r:w:uqa:x: opt; do
	case $opt in
	d) duration=$OPTARG ;;
	r) rounds=$OPTARG ;;
	w) settle=$OPTARG ;;
	u) pinned= ;;
	q) logs= ;;
	x) extra=$OPTARG ;;
	a) list=$OPTARG ;;
	*) echo "usage: $0 [-d DURATION] [-r ROUNDS] [-w SETTLE] [-u] [-q] [-a \"ATTACK ...\"] [-x \"SERVE FLAGS\"]" >&2; exit 2 ;;
	esac
done
read -r -a attack_names <<<"$list"
read -r -a extra_flags <<<"$extra"
if [[ -n $pinned ]] && { ! command -v taskset >/dev/null || (($(nproc) < 2)); }; then
	echo "taskset or a second CPU is missing; running unpinned" >&2
	pinned=
fi
on_server=() on_client=() placement="unpinned"
if [[ -n $pinned ]]; then
	on_server=(taskset -c 0) on_client=(taskset -c 1) placement="cfhost on CPU 0, wrk and attacker on CPU 1"
fi
secs=${duration%s}
[[ $secs =~ ^[0-9]+$ ]] || { echo "-d takes whole seconds, e.g. 5s" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid= attacker_pid=
cleanup() {
	for pid in $attacker_pid $server_pid; do kill "$pid" 2>/dev/null || true; done
	for pid in $attacker_pid $server_pid; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
	echo "installing wrk" >&2
	sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -q >&2
	$sudo apt-get install -y -q wrk >&2
fi

echo "building cfhost, the attacker and the guest" >&2
(cd "$root" && go build -o "$work/" ./cmd/cfhost ./bench/attacker)
(cd "$root" && GOOS=wasip1 GOARCH=wasm go build -o "$work/slow.wasm" ./test/e2e/testdata/guests/slow)

port=${PORT:-18301}
base=http://127.0.0.1:$port
logging="access log on" access_log=--access-log=true
[[ -n $logs ]] || logging="access log off" access_log=--access-log=false
echo "starting cfhost (defaults, $logging, to a file)" >&2
"${on_server[@]}" "$work/cfhost" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --api-token bench \
	"$access_log" "${extra_flags[@]}" 2>"$work/cfhost.log" &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$base/__api/health" 2>/dev/null && break; sleep 0.1; done

echo "deploying the victim and the attackers" >&2
"$work/attacker" setup -api "$base" -token bench -guest "$work/slow.wasm" -dir "$work/sites" >"$work/projects"
declare -A ids
while read -r name id; do ids[$name]=$id; done <"$work/projects"
victim=${ids[victim]}.localhost
# The static page, and a path that is no asset, so the guest answers it.
curl -fsS -o /dev/null -H "Host: $victim" "$base/"
[[ $(curl -fsS -H "Host: $victim" "$base/api/ping") == "slow read 0 bytes" ]] || { echo "the victim's server code does not answer" >&2; exit 1; }

# victim_rps: the victim's static page under wrk; prints "r/s non2xx".
victim_rps() {
	local out
	out=$("${on_client[@]}" wrk -t1 -c32 -d"$duration" -H "Host: $victim" "$base/")
	awk '/^Requests\/sec:/ { r = $2 } /Non-2xx/ { n = $NF } END { printf "%s %d\n", r, n }' <<<"$out"
}

# victim_code: one request to the victim's server code; prints
# "STATUS/SECONDS" (000 when there was no answer within 30 s).
victim_code() {
	curl -sS -o /dev/null -m 30 -w '%{http_code}/%{time_total}' -H "Host: $victim" "$base/api/ping" 2>/dev/null |
		awk -F/ '{ printf "%s/%.2fs", $1, $2 }' || true
}

# attack NAME: start the attack in the background for long enough to
# outlast the measurement.
attack() {
	local from=() api=()
	[[ $1 == rebuild ]] && from=(-from 127.0.0.2) api=(-api "http://127.0.0.1:$port" -token bench)
	[[ $1 == auth ]] && from=(-from 127.0.0.1)
	"${on_client[@]}" "$work/attacker" run -attack "$1" -addr "127.0.0.1:$port" -id "${ids[$1]:-none}" \
		-for "$((settle + secs + 40))s" "${from[@]}" "${api[@]}" 2>>"$work/attacker-$1.log" &
	attacker_pid=$!
}

stop_attack() {
	kill -TERM "$attacker_pid" 2>/dev/null || true
	wait "$attacker_pid" 2>/dev/null || true
	attacker_pid=
}

results=$work/results
: >"$results"
echo "warming up" >&2
"${on_client[@]}" wrk -t1 -c32 -d2s -H "Host: $victim" "$base/" >/dev/null
for round in $(seq 1 "$rounds"); do
	for a in "${attack_names[@]}"; do
		read -r base_rps base_bad < <(victim_rps)
		attack "$a"
		sleep "$settle"
		read -r att_rps att_bad < <(victim_rps)
		code=$(victim_code)
		stop_attack
		if ! kill -0 "$server_pid" 2>/dev/null; then
			echo "cfhost died under $a:" >&2
			tail -20 "$work/cfhost.log" >&2
			exit 1
		fi
		echo "$a $base_rps $att_rps $code $((base_bad + att_bad)) $round" | tee -a "$results" >&2
		sleep 2 # what the attack left running winds down before the next baseline
	done
done

echo
printf 'victim: a 4 KiB page, wrk -t1 -c32 -d%s, 127.0.0.1, %s, %s; medians of %s rounds\n' "$duration" "$placement" "$logging${extra:+, $extra}" "$rounds"
printf 'shared, noisy machine: compare each ratio with its own baseline, taken just before it\n\n'
awk -v rounds="$rounds" '
	function median(a, k,    i, j, t) {
		for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	{
		if (!($1 in n)) order[++count] = $1
		k = ++n[$1]; b[$1, k] = $2; u[$1, k] = $3
		codes[$1] = codes[$1] (k > 1 ? " " : "") $4; bad[$1] += $5
	}
	END {
		printf "%-8s  %12s  %16s  %6s  %-6s  %10s  %-30s  %s\n", "attack", "baseline r/s", "under attack r/s", "ratio", ">=0.5", "vs control", "victim server code (per round)", "victim non-2xx"
		for (i = 1; i <= count; i++) {
			a = order[i]
			for (k = 1; k <= n[a]; k++) { x[k] = b[a, k]; y[k] = u[a, k] }
			mb = median(x, n[a]); mu = median(y, n[a]); ratio[a] = mu / mb
		}
		for (i = 1; i <= count; i++) {
			a = order[i]; r = ratio[a]
			for (k = 1; k <= n[a]; k++) { x[k] = b[a, k]; y[k] = u[a, k] }
			vs = ("plain" in ratio) && a != "plain" ? sprintf("%.2f", r / ratio["plain"]) : "-"
			printf "%-8s  %12.0f  %16.0f  %6.2f  %-6s  %10s  %-30s  %d\n", a, median(x, n[a]), median(y, n[a]), r,
				(a == "plain" ? "ctrl" : r >= 0.5 ? "PASS" : "MISS"), vs, codes[a], bad[a]
		}
	}' "$results"
echo
echo "what each attack got back (last round):"
for a in "${attack_names[@]}"; do tail -1 "$work/attacker-$a.log"; done
