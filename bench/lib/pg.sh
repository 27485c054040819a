# bench/lib/pg.sh: a throwaway PostgreSQL cluster for the bench scripts that
# compare cfhost on PostgreSQL (--database) with the SQLite build. Source it,
# then:
#
#   pg_start            initdb + postgres in a new temporary directory,
#                       reachable only over a Unix socket in that directory
#   pg_database NAME    a new, empty database NAME (dropped first if it
#                       exists); prints its address for cfhost --database
#   pg_stop             stops the cluster and removes it (call it from the
#                       EXIT trap; it does nothing when none was started)
#
# The binaries are Debian's: initdb on PATH or in /usr/lib/postgresql/*/bin
# (newest first); when neither has them, the postgresql package is installed
# with apt-get, as .ci/run does. initdb refuses to run as root, so as root
# the cluster belongs to the postgres account (runuser).
#
# Durability matches what the SQLite build gets: SQLite runs its write-ahead
# log with synchronous=NORMAL (commits are not flushed one by one, the log is
# flushed at checkpoints), PostgreSQL here with fsync on and
# synchronous_commit off (commits are not waited for, the log is flushed a
# moment later). Neither loses or corrupts what was checkpointed on a crash.

pg_dir=
pg_bin=
pg_as=()

# pg_bindir prints the directory holding initdb, pg_ctl and createdb.
pg_bindir() {
	local p d
	if p=$(command -v initdb); then
		dirname "$(readlink -f "$p")"
		return 0
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
		if [[ -x $d/initdb ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

pg_start() {
	if ! pg_bin=$(pg_bindir); then
		echo "installing postgresql" >&2
		local sudo=
		[[ $(id -u) -eq 0 ]] || sudo=sudo
		$sudo apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2
		pg_bin=$(pg_bindir) || { echo "initdb is still missing after installing postgresql" >&2; return 1; }
	fi
	pg_dir=$(mktemp -d /tmp/benchpg.XXXXXX)
	pg_as=()
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$pg_dir"
		pg_as=(runuser -u postgres --)
	fi
	# From inside the cluster's directory: the postgres account may not be
	# able to enter the caller's.
	if ! (cd "$pg_dir" && "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust \
		--no-sync -E UTF8 --locale=C) >"$pg_dir/initdb.log" 2>&1; then
		cat "$pg_dir/initdb.log" >&2
		return 1
	fi
	if ! (cd "$pg_dir" && "${pg_as[@]}" "$pg_bin/pg_ctl" start -w -t 120 -D "$pg_dir/data" -l "$pg_dir/data/server.log" \
		-o "-c listen_addresses='' -c unix_socket_directories=$pg_dir -c synchronous_commit=off -c max_connections=200") >&2; then
		cat "$pg_dir/data/server.log" >&2
		return 1
	fi
}

pg_database() {
	# (dropdb's notice that there was nothing to drop is not news)
	"$pg_bin/dropdb" -h "$pg_dir" -U postgres --if-exists "$1" 2>/dev/null &&
		"$pg_bin/createdb" -h "$pg_dir" -U postgres "$1" &&
		echo "postgres:///$1?host=$pg_dir&user=postgres&sslmode=disable"
}

pg_stop() {
	[[ -n $pg_dir ]] || return 0
	if [[ -f $pg_dir/data/postmaster.pid ]]; then
		(cd "$pg_dir" && "${pg_as[@]}" "$pg_bin/pg_ctl" stop -m immediate -D "$pg_dir/data") >/dev/null 2>&1 || true
	fi
	rm -rf "$pg_dir"
	pg_dir=
}
