#!/usr/bin/env bash
# Installs Debian's chromium for the browser test when it is missing.
# Called by TestBrowser; safe to run by hand. Prints the binary's path on
# success, exits non-zero (with apt's own message on stderr) when the install
# is impossible, e.g. without root or without a package mirror.
set -euo pipefail
for b in chromium chromium-browser; do
	if p=$(command -v "$b"); then
		echo "$p"
		exit 0
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "chromium is missing and installing it needs root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One install at a time: several test binaries may ask at once.
exec 9>/tmp/cfhost-e2e-apt.lock
flock 9
if ! command -v chromium >/dev/null; then
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
command -v chromium
