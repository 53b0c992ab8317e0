#!/usr/bin/env bash
# Start/stop the backing services of cxstream: Kafka, Redis, ClickHouse.
#
#   scripts/services.sh up|down|status [--native|--docker]
#   scripts/services.sh restart redis|clickhouse|kafka [--native|--docker]
#                                           # stop one service and start it again
#                                           # (the fault suite, scripts/chaos.sh)
#   scripts/services.sh env                 # export lines, for eval "$(...)"
#   scripts/services.sh kafka-tool CLASS... # run a Kafka tool class (native)
#     e.g. kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Docker compose is used when a Docker engine answers, else the services run
# natively on 127.0.0.1: Redis and ClickHouse from Debian packages, Kafka from
# Maven Central jars. Native state (data, logs, pids) lives in
# $CXSTREAM_STATE_DIR, downloads in $CXSTREAM_CACHE_DIR.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR=${CXSTREAM_STATE_DIR:-$HOME/.local/state/cxstream}
CACHE_DIR=${CXSTREAM_CACHE_DIR:-$HOME/.cache/cxstream}
HOST=127.0.0.1
REDIS_PORT=6379
CH_TCP_PORT=9000
CH_HTTP_PORT=8123
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093

# Kafka from Maven Central. 4.3.1 is the newest 4.x whose kafka-tools jar is
# published there too (kafka_2.13 4.4.0 exists, kafka-tools 4.4.0 does not).
KAFKA_VERSION=4.3.1
LOG4J_VERSION=2.25.5 # Kafka 4 logs through slf4j 1.7 -> log4j2
MVN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_HEAP=${CXSTREAM_KAFKA_HEAP:--Xms512m -Xmx1g}

REDIS_DIR=$STATE_DIR/redis
CH_DIR=$STATE_DIR/clickhouse
KAFKA_DIR=$STATE_DIR/kafka

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

# fail_with_log NAME MSG LOGFILE...: print the tail of each log and exit.
fail_with_log() {
  local name=$1 msg=$2 f
  shift 2
  log "$name: $msg"
  for f in "$@"; do
    [[ -s $f ]] || continue
    log "$name: last lines of $f:"
    tail -n 30 "$f" >&2
  done
  exit 1
}

# wait_ready NAME TIMEOUT_S READY_FN PIDFILE MATCH LOGFILE...: poll READY_FN
# until it succeeds; fail early (with the logs) if the process has gone away.
wait_ready() {
  local name=$1 timeout=$2 ready=$3 pidfile=$4 match=$5 start elapsed
  shift 5
  start=$(now_ms)
  until $ready; do
    elapsed=$(($(now_ms) - start))
    if ((elapsed > 3000)) && ! pid_alive "$pidfile" "$match"; then
      fail_with_log "$name" "process exited during startup" "$@"
    fi
    ((elapsed < timeout * 1000)) || fail_with_log "$name" "not ready after ${timeout}s" "$@"
    sleep 0.3
  done
}

# ---------------------------------------------------------------- packages

# Install whatever native prerequisite is missing, in one apt-get run.
ensure_packages() {
  local pkgs=() t
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server)
  command -v clickhouse-server >/dev/null || pkgs+=(clickhouse-server)
  command -v clickhouse-client >/dev/null || pkgs+=(clickhouse-client)
  command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  [[ ${#pkgs[@]} -gt 0 ]] || return 0
  t=$(now_ms)
  apt_install "${pkgs[@]}"
  log "packages: installed ${pkgs[*]} in $(since "$t")s"
}

# ---------------------------------------------------------------- redis

redis_ping() { [[ $(redis-cli -h $HOST -p $REDIS_PORT ping 2>/dev/null) == PONG ]]; }
redis_version() { redis-cli -h $HOST -p $REDIS_PORT info server 2>/dev/null | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p'; }

redis_up() {
  if redis_ping; then log "redis: already up on $HOST:$REDIS_PORT"; return; fi
  local t
  t=$(now_ms)
  mkdir -p "$REDIS_DIR"
  # The AOF is the durable copy; RDB snapshots are off (--save ''): with
  # both on, a data set of gigabytes is forked and written out again every
  # minute: snapshots ran for 55% of the 1M-people bench's drain.
  redis-server --bind $HOST --port $REDIS_PORT --daemonize yes --appendonly yes --save '' \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  wait_ready redis 30 redis_ping "$REDIS_DIR/redis.pid" redis-server "$REDIS_DIR/redis.log"
  log "redis: up on $HOST:$REDIS_PORT (started in $(since "$t")s)"
}

redis_down() { stop_pidfile redis "$REDIS_DIR/redis.pid" redis-server 30; }

# ---------------------------------------------------------------- clickhouse

ch_query() { clickhouse-client --host $HOST --port $CH_TCP_PORT -q "$1" 2>/dev/null; }
ch_ping() { [[ $(ch_query 'SELECT 1') == 1 ]]; }

# Our own server config: everything under $CH_DIR, loopback only, small caches.
ch_write_config() {
  mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
  cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/log/clickhouse-server.log</log>
        <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  # User "default", no password, reachable from loopback only.
  cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
                <read_rows>0</read_rows><execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

ch_up() {
  if ch_ping; then log "clickhouse: already up on $HOST:$CH_TCP_PORT"; return; fi
  local t pidfile=$CH_DIR/clickhouse-server.pid
  t=$(now_ms)
  ch_write_config
  # A pidfile left by a killed server makes it refuse to start.
  pid_alive "$pidfile" clickhouse-server || rm -f "$pidfile"
  # Runs as the invoking user (root is accepted by this version); it forks
  # into the background itself and writes the pidfile.
  clickhouse-server --config-file="$CH_DIR/config.xml" --pid-file="$pidfile" --daemon \
    >>"$CH_DIR/log/stdout.log" 2>&1
  wait_ready clickhouse 60 ch_ping "$pidfile" clickhouse-server \
    "$CH_DIR/log/stderr.log" "$CH_DIR/log/clickhouse-server.err.log"
  log "clickhouse: up on $HOST:$CH_TCP_PORT, http $HOST:$CH_HTTP_PORT (started in $(since "$t")s)"
}

ch_down() { stop_pidfile clickhouse "$CH_DIR/clickhouse-server.pid" clickhouse-server 60; }

# ---------------------------------------------------------------- kafka

# Download the broker + tools jars once, with Maven, into $KAFKA_HOME/libs.
kafka_fetch() {
  [[ -f $KAFKA_HOME/libs/.complete ]] && return
  local t
  t=$(now_ms)
  log "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  cat >"$KAFKA_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.cxstream</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <!-- CLI tools (TopicCommand, ConsoleProducer, ...); Connect is not needed. -->
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$KAFKA_HOME/libs.tmp"
  mvn -B -Dstyle.color=never -f "$KAFKA_HOME/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
    "$MVN_DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_HOME/libs.tmp" >"$KAFKA_HOME/mvn.log" 2>&1 ||
    fail_with_log kafka "maven could not fetch the jars" "$KAFKA_HOME/mvn.log"
  rm -rf "$KAFKA_HOME/libs"
  mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
  touch "$KAFKA_HOME/libs/.complete"
  log "kafka: jars fetched in $(since "$t")s"
}

# kafka_tool CLASS ARGS...: run a Kafka CLI class, logging warnings to stderr.
kafka_tool() {
  [[ -f $KAFKA_HOME/libs/.complete ]] || die "kafka: jars missing, run '$0 up' first"
  mkdir -p "$KAFKA_DIR"
  [[ -f $KAFKA_DIR/tools-log4j2.properties ]] || cat >"$KAFKA_DIR/tools-log4j2.properties" <<'EOF'
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR"/{data,logs}
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Single-node KRaft broker+controller for local development (scripts/services.sh).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=4
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$KAFKA_DIR/log4j2.properties" <<EOF
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $KAFKA_DIR/logs/server.log
appender.file.filePattern = $KAFKA_DIR/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
}

kafka_listening() { tcp_open $HOST $KAFKA_PORT; }

kafka_up() {
  local pidfile=$KAFKA_DIR/kafka.pid out=$KAFKA_DIR/logs/kafka.out t
  if kafka_listening; then log "kafka: already up on $HOST:$KAFKA_PORT"; return; fi
  kafka_fetch
  t=$(now_ms)
  kafka_write_config
  # Cluster id generated once; storage formatted once.
  if [[ ! -s $KAFKA_DIR/cluster.id ]]; then
    kafka_tool kafka.tools.StorageTool random-uuid | tail -n 1 >"$KAFKA_DIR/cluster.id"
  fi
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    kafka_tool kafka.tools.StorageTool format -t "$(<"$KAFKA_DIR/cluster.id")" \
      -c "$KAFKA_DIR/server.properties" --ignore-formatted >/dev/null
  fi
  if ! pid_alive "$pidfile" kafka.Kafka; then
    # setsid: own session, so the broker outlives the shell that started it.
    # shellcheck disable=SC2086 # KAFKA_HEAP is a list of JVM flags
    nohup setsid java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >>"$out" 2>&1 </dev/null &
    echo $! >"$pidfile"
  fi
  wait_ready kafka 90 kafka_listening "$pidfile" kafka.Kafka "$out" "$KAFKA_DIR/logs/server.log"
  # The port is open; make sure the broker really serves requests.
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" --list >/dev/null ||
    fail_with_log kafka "broker does not answer requests" "$KAFKA_DIR/logs/server.log"
  log "kafka: up on $HOST:$KAFKA_PORT (started in $(since "$t")s)"
}

kafka_down() { stop_pidfile kafka "$KAFKA_DIR/kafka.pid" kafka.Kafka 60; }

# ---------------------------------------------------------------- modes

docker_usable() {
  command -v docker >/dev/null 2>&1 &&
    timeout 15 docker info >/dev/null 2>&1 &&
    timeout 15 docker compose version >/dev/null 2>&1
}

compose() { docker compose -f "$CXSTREAM_ROOT/docker-compose.yml" "$@"; }

print_env() {
  cat <<EOF
export CXSTREAM_KAFKA_BROKERS=$HOST:$KAFKA_PORT
export CXSTREAM_REDIS_ADDR=$HOST:$REDIS_PORT
export CXSTREAM_CLICKHOUSE_ADDR=$HOST:$CH_TCP_PORT
export CXSTREAM_CLICKHOUSE_HTTP_ADDR=$HOST:$CH_HTTP_PORT
EOF
  # The Kafka jars, for the test that runs a TLS+SASL broker of its own
  # (pkg/kafkaio TestIntegrationTLSAndSASL).
  if [[ -f $KAFKA_HOME/libs/.complete ]]; then
    echo "export CXSTREAM_KAFKA_HOME=$KAFKA_HOME"
  fi
}

# One line per service; returns non-zero if any is down. Works in both modes
# (it only looks at the ports), using the native clients when installed.
status() {
  local down=0 state ver
  # redis
  if command -v redis-cli >/dev/null; then
    redis_ping && state=up || state=down
    ver=$(redis_version || true)
  else
    tcp_open $HOST $REDIS_PORT && state=up || state=down
    ver=
  fi
  [[ $state == up ]] || down=1
  printf '%-11s %-5s %-38s %s\n' redis "$state" "$HOST:$REDIS_PORT" "${ver:--}"
  # clickhouse
  if command -v clickhouse-client >/dev/null; then
    ch_ping && state=up || state=down
    ver=$(ch_query 'SELECT version()' || true)
  else
    tcp_open $HOST $CH_TCP_PORT && state=up || state=down
    ver=
  fi
  [[ $state == up ]] || down=1
  printf '%-11s %-5s %-38s %s\n' clickhouse "$state" "$HOST:$CH_TCP_PORT (http $HOST:$CH_HTTP_PORT)" "${ver:--}"
  # kafka: version known only for our native broker
  tcp_open $HOST $KAFKA_PORT && state=up || state=down
  ver=-
  pid_alive "$KAFKA_DIR/kafka.pid" kafka.Kafka && ver=$KAFKA_VERSION
  [[ $state == up ]] || down=1
  printf '%-11s %-5s %-38s %s\n' kafka "$state" "$HOST:$KAFKA_PORT" "$ver"
  return $down
}

main() {
  local cmd=${1:-} mode=auto t service=
  [[ -n $cmd ]] || usage
  shift
  case $cmd in
    env) print_env; return ;;
    kafka-tool) kafka_tool "$@"; return ;;
    up | down | status) ;;
    restart)
      service=${1:-}
      case $service in
        redis | clickhouse | kafka) shift ;;
        *) die "restart: which service? redis, clickhouse or kafka (got '${service}')" ;;
      esac
      ;;
    *) usage ;;
  esac
  case ${1:-} in
    --native) mode=native ;;
    --docker) mode=docker ;;
    "") ;;
    *) usage ;;
  esac
  if [[ $mode == auto ]]; then
    if docker_usable; then mode=docker; else mode=native; fi
  elif [[ $mode == docker ]]; then
    docker_usable || die "--docker: no Docker engine answers, or 'docker compose' is missing"
  fi

  # Serialise concurrent up/down (several test runs may share one machine).
  # -o: the lock is not inherited by the daemons that `up` leaves running.
  if [[ $mode == native && $cmd != status && -z ${_CXSTREAM_LOCKED:-} ]] && command -v flock >/dev/null; then
    mkdir -p "$STATE_DIR"
    _CXSTREAM_LOCKED=1 exec flock -o -w 900 "$STATE_DIR/.services.lock" "$0" "$cmd" $service --native
  fi

  case $mode:$cmd in
    native:up)
      t=$(now_ms)
      mkdir -p "$STATE_DIR" "$CACHE_DIR"
      ensure_packages
      redis_up
      ch_up
      kafka_up
      log "all services up in $(since "$t")s (native, state in $STATE_DIR)"
      ;;
    native:down) kafka_down; ch_down; redis_down ;;
    native:restart)
      t=$(now_ms)
      case $service in
        redis) redis_down; redis_up ;;
        clickhouse) ch_down; ch_up ;;
        kafka) kafka_down; kafka_up ;;
      esac
      log "$service: restarted in $(since "$t")s"
      return
      ;;
    docker:restart)
      compose restart "$service"
      compose up -d --wait "$service"
      return
      ;;
    docker:up)
      t=$(now_ms)
      compose up -d --wait kafka redis clickhouse
      log "all services up in $(since "$t")s (docker compose)"
      ;;
    docker:down) compose down ;;
    docker:status) compose ps; status; return ;;
    native:status) status; return ;;
  esac
  if [[ $cmd == up ]]; then
    echo "# Services ready. Use them with:"
    print_env
  fi
}

main "$@"
