#!/bin/sh
# The one mosquitto start-up for tests, benchmarks and scripts (make run, make test, make bench,
# the soak, the example's test, the HIL scenarios in the VM and on a Pi):
#
#   scripts/mosquitto.sh DIR PORT [--persistent] [CONFIG-LINES]
#
# writes DIR/mosquitto.conf: a listener on 127.0.0.1:PORT only, anonymous clients, persistence
# off (or, with --persistent, sessions and queued messages saved in DIR, as on a real server),
# the log on stderr; then CONFIG-LINES (a TLS listener's files, another listener, log types,
# limits). Then it execs mosquitto in the foreground: the caller runs it in the background,
# owns its pid (mosquitto's own), sends its output where it likes and waits for PORT to accept.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR PORT [--persistent] [CONFIG-LINES]" >&2; exit 2; }
dir=$1 port=$2
shift 2
persistence="persistence false"
if [ "${1:-}" = --persistent ]; then
    persistence="persistence true
persistence_location $dir/"
    shift
fi
printf 'listener %s 127.0.0.1\nallow_anonymous true\n%s\nlog_dest stderr\n%s\n' "$port" "$persistence" "${1:-}" > "$dir/mosquitto.conf"
for m in "$(command -v mosquitto 2>/dev/null || true)" /usr/sbin/mosquitto /usr/bin/mosquitto /usr/local/sbin/mosquitto; do
    [ -n "$m" ] && [ -x "$m" ] && exec "$m" -c "$dir/mosquitto.conf"
done
echo "$0: mosquitto is not installed (apt install mosquitto; make test installs it)" >&2
exit 127
