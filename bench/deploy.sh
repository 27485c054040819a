#!/usr/bin/env bash
# Deploy throughput, end to end through the real binaries on loopback, beside
# a baseline run in the same script on the same files:
#   baseline = sha256sum over the files + one curl upload of the same bytes
#              (as a tar stream) to a plain Go server that writes them to disk.
# Prints files/s, MB/s and the ratio cfdeploy/baseline (target: first deploy
# within 2x of the baseline), and the one-file-changed redeploy time of the
# 10,000-file site (target: under 1.5 s end to end).
#
# Three sites, generated deterministically (same bytes on every machine):
#   small  10,000 HTML files of 1-8 KiB (hex text)
#   mid    10,000 files of 2-32 KiB, half text (HTML, CSS, JS from a word
#          list: compressible) and half incompressible bytes (.png, .woff2),
#          plus 16 files of 1-3 MiB (8 .js, 8 .bin): ~209 MB, a mid-size site
#   large  100 files of 2 MiB of random bytes
# SITES="mid" bench/deploy.sh 3 measures only the sites named.
#
# Baseline and cfdeploy take turns for ROUNDS rounds (default 5), each first
# deploy on a freshly started cfhost with an empty data dir, and every figure
# is the median over the rounds: on a shared 2-core machine one run of either
# side can be off by half, which decided the ratio when each ran once.
#
# --database postgres adds cfhost on PostgreSQL: each round, after the SQLite
# host's first deploys, a fresh cfhost with --database on a fresh database of
# a throwaway local cluster (bench/lib/pg.sh: Unix socket, fsync on,
# synchronous_commit off) deploys the same sites, and the first-deploy times
# are printed side by side with the ratio PostgreSQL/SQLite (target: within
# 2x). Its CPU figure counts the PostgreSQL server's processes too. Only the
# first deploys are measured then (no redeploy, no hash phase).
#
# A deploy on PostgreSQL is answered when it goes live on every replica at
# once, --database-switch-delay (1s by default) after it is written: a fixed
# wait, not work, and part of what a user waits for. The report gives the
# ratio with it and, beside it, without it (the time less the delay), so
# that neither hides the other. CFHOST_DATABASE_SWITCH_DELAY in the
# environment sets the delay, as for cfhost itself.
#
# Usage: [SITES="small mid large"] bench/deploy.sh [--database postgres] [ROUNDS]
# (needs curl, python3 and coreutils; installs curl, and postgresql for
# --database postgres, if missing)
set -euo pipefail
database=
if [[ ${1:-} == --database ]]; then
  if [[ ${2:-} != postgres ]]; then
    echo "usage: $0 [--database postgres] [ROUNDS]" >&2
    exit 2
  fi
  database=postgres
  shift 2
fi
rounds=${1:-5}
sites=${SITES:-small mid large}
cd "$(dirname "$0")/.."
source bench/lib/pg.sh
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; pg_stop; rm -rf "$work"' EXIT
bin=$work/bin
go build -o "$bin/" ./cmd/cfhost ./cmd/cfdeploy ./bench/sink

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# --- the sites -------------------------------------------------------------
small=$work/small   # 10,000 files of 1-8 KiB
mid=$work/mid       # 10,000 files of 2-32 KiB + 16 of 1-3 MiB, ~209 MB
large=$work/large   # 100 files of 2 MiB
mkdir -p "$small" "$mid" "$large"
python3 - "$small" <<'PY'
import os, random, sys
random.seed(42)
root = sys.argv[1]
for i in range(10000):
    d = os.path.join(root, "d%d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    n = random.randint(1024, 8192)
    with open(os.path.join(d, "f%d.html" % i), "wb") as f:
        f.write(("<!-- %d -->" % i).encode() + random.randbytes(n)[: n - 12].hex().encode()[: n - 12])
PY
python3 - "$mid" <<'PY'
import os, random, sys
rng = random.Random(17)
root = sys.argv[1]
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(4096)]
def text(n):
    out, size = [], 0
    while size < n:
        line = b" ".join(rng.choices(words, k=12)) + b"\n"
        out.append(line)
        size += len(line)
    return b"".join(out)[:n]
kinds = [("html", True), ("css", True), ("js", True), ("png", False), ("woff2", False), ("bin", False)]
for i in range(10000):
    d = os.path.join(root, "s%02d" % (i % 64), "t%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    ext, compressible = kinds[i % len(kinds)]
    n = rng.randint(2048, 32768)
    data = text(n) if compressible else rng.randbytes(n)
    with open(os.path.join(d, "f%05d.%s" % (i, ext)), "wb") as f:
        f.write(data)
os.makedirs(os.path.join(root, "big"), exist_ok=True)
for i in range(16):
    n = rng.randint(1 << 20, 3 << 20)
    data = text(n) if i % 2 == 0 else rng.randbytes(n)
    with open(os.path.join(root, "big", "b%02d.%s" % (i, "js" if i % 2 == 0 else "bin")), "wb") as f:
        f.write(data)
PY
for i in $(seq 1 100); do head -c $((2 << 20)) /dev/urandom > "$large/blob$i.bin"; done

mb() { du -sb "$1" | awk '{ printf "%.1f", $1 / 1048576 }'; }

# --- baseline ----------------------------------------------------------------
mkdir -p "$work/sinkdata"
"$bin/sink" -listen 127.0.0.1:18790 -dir "$work/sinkdata" &
sink_pid=$!
sleep 0.5
# CPU seconds, which a loaded machine moves far less than wall time: of
# this shell's finished children, and of a running process.
# children_cpu takes the shell's $BASHPID: inside $(...) it would be another.
children_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($16 + $17) / t }' "/proc/$1/stat"; }
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
cpu_sum() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { printf "%.2f", (b - a) + (d - c) }'; }
baseline() { # dir -> "seconds cpu-seconds"
  rm -rf "$1/.cfdeploy"
  sync; local t0 c0 s0 me=$BASHPID; t0=$(now) c0=$(children_cpu "$me") s0=$(proc_cpu "$sink_pid")
  find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null
  tar -C "$1" -cf - . | curl -s -o /dev/null --data-binary @- http://127.0.0.1:18790/upload
  echo "$(secs "$t0" "$(now)") $(cpu_sum "$c0" "$(children_cpu "$me")" "$s0" "$(proc_cpu "$sink_pid")")"
}

# --- cfhost + cfdeploy -----------------------------------------------------
host_pid= host_on_pg=
start_host() { # [--database ADDRESS]: a fresh cfhost on an empty data dir
  stop_host
  rm -rf "$work/hostdata"
  "$bin/cfhost" serve --listen 127.0.0.1:18788 --data-dir "$work/hostdata" --api-token bench "$@" 2>>"$work/cfhost.log" &
  host_pid=$! host_on_pg=${1:-}
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18788/__api/health >/dev/null && break; sleep 0.1; done
}
stop_host() {
  if [[ -n $host_pid ]]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; host_pid=; fi
}
export CFDEPLOY_HOST=http://127.0.0.1:18788 CFDEPLOY_TOKEN=bench
# db_cpu: CPU seconds of the PostgreSQL server so far when the host runs on
# it (the postmaster, its live backends, and the backends it has reaped), or 0.
db_cpu() {
  if [[ -z $host_on_pg ]]; then echo 0; return; fi
  local pm kids
  pm=$(head -1 "$pg_dir/data/postmaster.pid")
  kids=$(pgrep -P "$pm" | sed 's|.*|/proc/&/stat|')
  # shellcheck disable=SC2086 # one stat file per word
  cat "/proc/$pm/stat" $kids 2>/dev/null | awk -v t="$(getconf CLK_TCK)" '
    { sub(/^.*\) /, ""); s += $12 + $13; if (NR == 1) s += $14 + $15 }
    END { printf "%.2f", s / t }'
}
deploy() { # dir project -> "seconds cpu-seconds" (cfdeploy's and cfhost's, and PostgreSQL's when the host runs on it), on an empty hash cache so that the first deploy hashes everything
  rm -rf "$1/.cfdeploy" "$work/xdg-cache"
  sync; local t0 c0 h0 d0 me=$BASHPID; t0=$(now) c0=$(children_cpu "$me") h0=$(proc_cpu "$host_pid") d0=$(db_cpu)
  XDG_CACHE_HOME=$work/xdg-cache "$bin/cfdeploy" deploy "$1" --project "$2" --json > "$work/last.json" 2>>"$work/cfdeploy.log"
  echo "$(secs "$t0" "$(now)") $(cpu_sum "$c0" "$(children_cpu "$me")" "$h0" "$(proc_cpu "$host_pid")" | awk -v a="$d0" -v b="$(db_cpu)" '{ printf "%.2f", $1 + b - a }')"
}
project() { "$bin/cfdeploy" projects create "$1" --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

report() { # name files dir seconds baseline spread cpu base-cpu cpu-spread
  awk -v name="$1" -v n="$2" -v mb="$(mb "$3")" -v t="$4" -v b="$5" -v spread="$6" -v c="$7" -v bc="$8" -v cspread="$9" 'BEGIN {
    printf "%-28s %8.0f files/s %8.1f MB/s   %.3f s   baseline %.3f s   ratio %.2fx   (per round %s)\n", name, n / t, mb / t, t, b, t / b, spread
    printf "%-28s CPU %.2f s (cfdeploy + cfhost)   baseline CPU %.2f s   ratio %.2fx   (per round %s)\n", "", c, bc, c / bc, cspread }'
}

echo "== deploy throughput, median of $rounds rounds (lower ratio is better; target <= 2.00x), load $(cut -d' ' -f1-3 /proc/loadavg) =="
declare -A base_t host_t ratios base_c host_c cratios pg_t pg_c pgratios pgcratios pgnratios
switch_delay=${CFHOST_DATABASE_SWITCH_DELAY:-1s}
# switch_secs: the delay in seconds (Go duration forms h, m, s, ms, us, ns).
switch_secs=$(awk -v d="$switch_delay" 'BEGIN {
  s = 0; u["h"] = 3600; u["m"] = 60; u["s"] = 1; u["ms"] = 1e-3; u["us"] = 1e-6; u["µs"] = 1e-6; u["ns"] = 1e-9
  while (match(d, /^[0-9.]+(h|ms|m|us|µs|ns|s)/)) {
    part = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
    n = part + 0; sub(/^[0-9.]+/, "", part); s += n * u[part]
  }
  if (d != "") { print "bad CFHOST_DATABASE_SWITCH_DELAY" > "/dev/stderr"; exit 1 }
  printf "%.6f", s }')
[[ -z $database ]] || pg_start
for r in $(seq 1 "$rounds"); do
  start_host
  for site in $sites; do
    dir=${!site}
    read -r b bc <<< "$(baseline "$dir")"
    p=$(project "bench-$site-$r")
    read -r t tc <<< "$(deploy "$dir" "$p")"
    base_t[$site]+=" $b" host_t[$site]+=" $t" base_c[$site]+=" $bc" host_c[$site]+=" $tc"
    ratios[$site]+=" $(awk -v t="$t" -v b="$b" 'BEGIN { printf "%.2f", t / b }')"
    cratios[$site]+=" $(awk -v t="$tc" -v b="$bc" 'BEGIN { printf "%.2f", t / b }')"
  done
  if [[ -n $database ]]; then
    start_host --database "$(pg_database bench)" --database-switch-delay "$switch_delay"
    for site in $sites; do
      dir=${!site}
      p=$(project "bench-$site-$r")
      read -r t tc <<< "$(deploy "$dir" "$p")"
      pg_t[$site]+=" $t" pg_c[$site]+=" $tc"
      pgratios[$site]+=" $(awk -v t="$t" -v b="${host_t[$site]##* }" 'BEGIN { printf "%.2f", t / b }')"
      pgcratios[$site]+=" $(awk -v t="$tc" -v b="${host_c[$site]##* }" 'BEGIN { printf "%.2f", t / b }')"
      pgnratios[$site]+=" $(awk -v t="$t" -v w="$switch_secs" -v b="${host_t[$site]##* }" 'BEGIN { printf "%.2f", (t - w) / b }')"
    done
    stop_host
  fi
  line="round $r:"
  for site in $sites; do
    line+=" $site ${ratios[$site]##* }x (CPU ${cratios[$site]##* }x)"
    [[ -z $database ]] || line+=" postgres/sqlite ${pgratios[$site]##* }x (less the switch delay ${pgnratios[$site]##* }x, CPU ${pgcratios[$site]##* }x)"
  done
  line+=", load $(cut -d' ' -f1 /proc/loadavg)"
  echo "$line" >&2
done
for site in $sites; do
  dir=${!site}
  n=$(find "$dir" -type f -not -path '*/.cfdeploy/*' | wc -l)
  spread=$(tr ' ' '\n' <<< "${ratios[$site]}" | grep . | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }')
  cspread=$(tr ' ' '\n' <<< "${cratios[$site]}" | grep . | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }')
  report "first deploy ($site, $n files)" "$n" "$dir" "$(median <<< "${host_t[$site]}")" "$(median <<< "${base_t[$site]}")" "$spread" \
    "$(median <<< "${host_c[$site]}")" "$(median <<< "${base_c[$site]}")" "$cspread"
done

range() { tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
if [[ -n $database ]]; then
  echo "== first deploy, cfhost on PostgreSQL (--database, local cluster on a Unix socket, --database-switch-delay $switch_delay) against SQLite, median of $rounds rounds (target <= 2.00x) =="
  for site in $sites; do
    n=$(find "${!site}" -type f -not -path '*/.cfdeploy/*' | wc -l)
    awk -v name="first deploy ($site, $n files)" -v s="$(median <<< "${host_t[$site]}")" -v p="$(median <<< "${pg_t[$site]}")" \
      -v r="$(median <<< "${pgratios[$site]}")" -v spread="$(range <<< "${pgratios[$site]}")" \
      -v sc="$(median <<< "${host_c[$site]}")" -v pc="$(median <<< "${pg_c[$site]}")" \
      -v cr="$(median <<< "${pgcratios[$site]}")" -v cspread="$(range <<< "${pgcratios[$site]}")" \
      -v w="$switch_secs" -v nr="$(median <<< "${pgnratios[$site]}")" -v nspread="$(range <<< "${pgnratios[$site]}")" 'BEGIN {
      printf "%-28s sqlite %.3f s   postgres %.3f s   ratio %.2fx %s   (per round %s)\n", name, s, p, r, (r <= 2 ? "met" : "MISSED"), spread
      printf "%-28s less the switch delay (%.3f s): postgres %.3f s   ratio %.2fx %s   (per round %s)\n", "", w, p - w, nr, (nr <= 2 ? "met" : "MISSED"), nspread
      printf "%-28s CPU sqlite %.2f s   postgres %.2f s (with the database server)   ratio %.2fx   (per round %s)\n", "", sc, pc, cr, cspread }'
  done
  exit 0
fi

# SITES set: the first deploys were what was asked for.
if [[ -n ${SITES:-} ]]; then exit 0; fi

echo "== one file changed, 10,000-file site (target < 1.5 s) =="
p=$(project bench-redeploy)
deploy "$small" "$p" > /dev/null
echo "changed $(date +%s%N)" >> "$small/d0/f0.html"
t0=$(now)
XDG_CACHE_HOME=$work/xdg-cache "$bin/cfdeploy" deploy "$small" --project "$p" --json > "$work/last.json" 2>>"$work/cfdeploy.log"
t=$(secs "$t0" "$(now)")
new=$(sed -n 's/.*"newAssets": *\([0-9]*\).*/\1/p' "$work/last.json" | head -1)
echo "redeploy: ${t} s, newAssets=${new}"
# Stop the servers: cfhost would go on compressing the sites just deployed
# in the background and take CPU from the hash measurements below.
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true

# =============================================================================
# CLI half — owned by the cfdeploy CLI engineer (issue 6). Everything below
# this banner is ours; the host half above is not.
#
# Hash phase: cfdeploy's walk + SHA-256 of a 10,000-file / 200 MB tree
# against `sha256sum` over the same files, page cache warm for both
# (targets: >= 3x faster without the cache, >= 20x faster on the second run
# thanks to the .cfdeploy hash cache). `cfdeploy hash` runs exactly the
# deploy's hash phase (walk, .assetsignore, limits, cache) without a host.
# The three commands take turns for 7 rounds and each is reported by its
# median, so a neighbour's burst of CPU falls on all of them alike.
# =============================================================================
echo "== hash phase: cfdeploy vs sha256sum, 10,000 files / 200 MB (higher is better) =="
hashtree=$work/hashtree
python3 - "$hashtree" <<'PY'
import os, sys
root = sys.argv[1]
for i in range(10000):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(20000))
PY
# Let every mtime leave the cache's racy window (2 s) so the cache may keep them.
sleep 2.5
find "$hashtree" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache
# Let the 200 MB just written, and the access times the warm-up just set,
# reach the disk: writeback running under the timed commands would be
# counted as theirs.
sync
export XDG_CACHE_HOME=$work/cache                               # cfdeploy's cache for sites without cfdeploy.toml
"$bin/cfdeploy" hash "$hashtree" > /dev/null                    # fill the cache
sha() { find "$hashtree" -type f -print0 | xargs -0 sha256sum; }
took() { # command... -> wall time in seconds
  local t0; t0=$(now); "$@" > /dev/null; secs "$t0" "$(now)"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
r_sha="" r_cold="" r_warm=""
for _ in 1 2 3 4 5 6 7; do
  r_sha+=" $(took sha)"
  r_cold+=" $(took "$bin/cfdeploy" hash "$hashtree" --no-cache)"
  r_warm+=" $(took "$bin/cfdeploy" hash "$hashtree")"
done
t_sha=$(median <<< "$r_sha") t_cold=$(median <<< "$r_cold") t_warm=$(median <<< "$r_warm")
awk -v s="$t_sha" -v c="$t_cold" -v w="$t_warm" 'BEGIN {
  printf "sha256sum                      %.3f s   (median of 7)\n", s
  printf "cfdeploy hash, no cache        %.3f s   %.1fx faster (target >= 3x)\n", c, s / c
  printf "cfdeploy hash, second run      %.3f s   %.1fx faster (target >= 20x)\n", w, s / w }'
