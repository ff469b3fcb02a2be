#!/usr/bin/env bash
# A real Apache Kafka 4.x (KRaft, no ZooKeeper) on 127.0.0.1, from Maven Central jars.
#
#   deploy/kafka.sh fetch            copy the broker jars into the cache (needs Maven, once)
#   deploy/kafka.sh start [N]        format and start N nodes (default 1), wait until they accept clients
#   deploy/kafka.sh stop             stop every node this script started, cleanly (SIGTERM, then wait)
#   deploy/kafka.sh status           print the bootstrap servers of running nodes, exit 1 if none
#   deploy/kafka.sh kill I           SIGKILL node I (fault injection: a crashed broker)
#   deploy/kafka.sh restart I        start node I again on its data (after stop or kill)
#
# Node i listens for clients on KAFKA_PORT+2i and for the controller quorum on KAFKA_PORT+2i+1;
# with KAFKA_SASL_PORT set, also for SASL/PLAIN clients on KAFKA_SASL_PORT+i (users from
# KAFKA_SASL_USERS="name:password ...", default flashpoint:flashpoint-secret).
# Each node is a combined broker+controller; with N=3 the three form one KRaft quorum.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_STATE_DIR="${KAFKA_STATE_DIR:-$here/../.kafka}"
KAFKA_LIB_DIR="${KAFKA_LIB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/flashpoint/kafka-lib}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx1g}"

fetch() {
  if [ -f "$KAFKA_LIB_DIR/.complete" ] && cmp -s "$here/kafka/pom.xml" "$KAFKA_LIB_DIR/.pom.xml"; then
    return 0
  fi
  command -v mvn >/dev/null || { echo "kafka.sh: Maven (mvn) is required to fetch the Kafka jars" >&2; exit 1; }
  rm -rf "$KAFKA_LIB_DIR"; mkdir -p "$KAFKA_LIB_DIR"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIB_DIR"
  cp "$here/kafka/pom.xml" "$KAFKA_LIB_DIR/.pom.xml"
  touch "$KAFKA_LIB_DIR/.complete"
}

tool() {
  java -Xmx256m -Dlog4j2.configurationFile="$here/kafka/log4j2.xml" -cp "$KAFKA_LIB_DIR/*" "$@"
}

write_config() {
  local i="$1" n="$2" node_dir="$3"
  local port=$((KAFKA_PORT + 2 * i)) cport=$((KAFKA_PORT + 2 * i + 1))
  local voters="" j
  for ((j = 0; j < n; j++)); do
    voters+="${voters:+,}$((j + 1))@127.0.0.1:$((KAFKA_PORT + 2 * j + 1))"
  done
  local rf=$(( n >= 3 ? 3 : 1 )) isr=$(( n >= 3 ? 2 : 1 ))
  # Optional SASL/PLAIN listener for clients (KAFKA_SASL_PORT, users from
  # KAFKA_SASL_USERS="name:password ..."); brokers and controllers keep PLAINTEXT.
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" sasl=""
  if [ -n "${KAFKA_SASL_PORT:-}" ]; then
    local sport=$((KAFKA_SASL_PORT + i)) users="" u
    for u in ${KAFKA_SASL_USERS:-flashpoint:flashpoint-secret}; do users+=" user_${u%%:*}=\"${u#*:}\""; done
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sport"
    advertised+=",SASL_PLAINTEXT://127.0.0.1:$sport"
    protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
    sasl="sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$users;"
  fi
  cat > "$node_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$((i + 1))
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
$sasl
inter.broker.listener.name=PLAINTEXT
log.dirs=$node_dir/data
num.partitions=4
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
}

wait_port() {
  local port="$1" pid="$2" log="$3" deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: node exited during start-up; last lines of $log:" >&2; tail -n 30 "$log" >&2; exit 1
    fi
    if ((SECONDS > deadline)); then echo "kafka.sh: port $port not open in time" >&2; exit 1; fi
    sleep 0.5
  done
}

start() {
  local n="${1:-1}" i
  fetch
  stop quiet
  rm -rf "$KAFKA_STATE_DIR"; mkdir -p "$KAFKA_STATE_DIR"
  local cluster_id
  cluster_id="$(tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  for ((i = 0; i < n; i++)); do
    local node_dir="$KAFKA_STATE_DIR/node$((i + 1))"
    mkdir -p "$node_dir/data" "$node_dir/logs"
    write_config "$i" "$n" "$node_dir"
    tool kafka.tools.StorageTool format -t "$cluster_id" -c "$node_dir/server.properties" >"$node_dir/logs/format.log" 2>&1 \
      || { cat "$node_dir/logs/format.log" >&2; exit 1; }
    launch "$node_dir"
  done
  for ((i = 0; i < n; i++)); do
    local node_dir="$KAFKA_STATE_DIR/node$((i + 1))"
    wait_port $((KAFKA_PORT + 2 * i)) "$(cat "$node_dir/pid")" "$node_dir/logs/server.out"
  done
  wait_ready "$n"
  status
}

launch() {
  local node_dir="$1"
  # setsid: the broker must outlive the caller's process group (CI steps, test sessions); stop() signals it by pid.
  setsid java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.xml" \
    -cp "$KAFKA_LIB_DIR/*" kafka.Kafka "$node_dir/server.properties" \
    >>"$node_dir/logs/server.out" 2>&1 < /dev/null &
  echo $! > "$node_dir/pid"
}

# Fault injection: SIGKILL node I (a crash: no clean shutdown, no leadership hand-over).
kill_node() {
  local node_dir="$KAFKA_STATE_DIR/node${1:?node number}" pid
  pid="$(cat "$node_dir/pid" 2>/dev/null)" || { echo "kafka.sh: node $1 is not running" >&2; exit 1; }
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$node_dir/pid"
}

# Start node I again on its existing data (after stop or kill), and wait until it serves.
restart_node() {
  local i="${1:?node number}" node_dir="$KAFKA_STATE_DIR/node$1" mark
  [ -f "$node_dir/server.properties" ] || { echo "kafka.sh: node $i was never started" >&2; exit 1; }
  if [ -f "$node_dir/pid" ] && kill -0 "$(cat "$node_dir/pid")" 2>/dev/null; then return 0; fi
  mark="$(grep -c "Kafka Server started" "$node_dir/logs/server.out" 2>/dev/null || true)"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90})) binds
  # The port may be taken while the node was down: a client that keeps reconnecting to
  # a port inside the ephemeral range (ip_local_port_range) can end up connected to
  # itself on it. The broker then exits with "Address already in use": try again until
  # the deadline (and prefer ports below the ephemeral range for nodes that go down).
  while true; do
    binds="$(grep -c "Address already in use" "$node_dir/logs/server.out" 2>/dev/null || true)"
    launch "$node_dir"
    while kill -0 "$(cat "$node_dir/pid")" 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((KAFKA_PORT + 2 * (i - 1)))") 2>/dev/null; do
      sleep 0.5
    done
    kill -0 "$(cat "$node_dir/pid")" 2>/dev/null && break
    if [ "$(grep -c "Address already in use" "$node_dir/logs/server.out")" -le "${binds:-0}" ] || ((SECONDS > deadline)); then
      echo "kafka.sh: node $i exited during restart; last lines:" >&2; tail -n 30 "$node_dir/logs/server.out" >&2; exit 1
    fi
    sleep 2
  done
  until [ "$(grep -c "Kafka Server started" "$node_dir/logs/server.out")" -gt "${mark:-0}" ]; do
    if ((SECONDS > deadline)); then echo "kafka.sh: node $i did not report ready" >&2; exit 1; fi
    sleep 0.5
  done
}

# An open port is not yet a broker that serves metadata: wait for each node to log that it started.
wait_ready() {
  local n="$1" i deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  for ((i = 1; i <= n; i++)); do
    until grep -q "Kafka Server started" "$KAFKA_STATE_DIR/node$i/logs/server.out" 2>/dev/null; do
      if ((SECONDS > deadline)); then echo "kafka.sh: node $i did not report ready" >&2; exit 1; fi
      sleep 0.5
    done
  done
}

servers() {
  local n="$1" i out=""
  for ((i = 0; i < n; i++)); do out+="${out:+,}127.0.0.1:$((KAFKA_PORT + 2 * i))"; done
  echo "$out"
}

stop() {
  local quiet="${1:-}" pidfile pid
  shopt -s nullglob
  for pidfile in "$KAFKA_STATE_DIR"/node*/pid; do
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      [ -n "$quiet" ] || echo "stopped kafka node pid $pid"
    fi
    rm -f "$pidfile"
  done
}

status() {
  local pidfile alive=0 i=0 out=""
  shopt -s nullglob
  for pidfile in "$KAFKA_STATE_DIR"/node*/pid; do
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      out+="${out:+,}127.0.0.1:$((KAFKA_PORT + 2 * i))"; alive=1
    fi
    i=$((i + 1))
  done
  [ "$alive" = 1 ] || { echo "no kafka node running" >&2; return 1; }
  echo "$out"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-1}" ;;
  stop) stop ;;
  status) status ;;
  kill) kill_node "${2:-}" ;;
  restart) restart_node "${2:-}" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
