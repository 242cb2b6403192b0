# Sourced by bench/run.sh and bench/mqtt_ab.sh: the benchmarks' own mosquitto on loopback.

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_mosquitto DIR PORT [CONFIG-LINES]: a broker with persistence off listening on PORT (plus
# whatever CONFIG-LINES add, e.g. a TLS listener), its config and log in DIR; returns once PORT
# accepts. Sets mosquitto_pid; the caller stops it (kill "$mosquitto_pid").
start_mosquitto() {
  local dir=$1 port=$2 extra=${3:-}
  scripts/mosquitto.sh "$dir" "$port" "$(printf 'max_queued_messages 0\n%s' "$extra")" > "$dir/mosquitto.log" 2>&1 &
  mosquitto_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}
