# Starts the real servers that the PostgreSQL and S3 tests need, and
# exports the variables those tests read. Source it (CI's .ci/run does;
# a developer can too, from the repository's top folder):
#
#   . .ci/backends.sh && go test ./postgres ./blobs
#
# It needs root for the first run (apt-get install postgresql; the cluster
# runs as the unprivileged user postgres, since PostgreSQL refuses root),
# and the Go module proxy once to build versitygw into GOPATH/bin, where
# later runs find it. Everything lives in one temporary folder and listens
# only on a Unix socket and 127.0.0.1; backends_stop (also run at exit of
# the shell that sourced this) stops both servers and removes the folder.
#
# Exported for the tests:
#   NESSEMBLE_TEST_POSTGRES  URL of the cluster's postgres database; each
#                            test makes a database of its own in it
#   NESSEMBLE_TEST_S3        s3://?endpoint=...; each test makes a bucket
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  the S3 server's test keys

backends_fail() { echo "backends.sh: $*" >&2; return 1; }

backends_start() {
  local pgbin versitygw port i
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
      { backends_fail "cannot install postgresql"; return 1; }
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  versitygw="$(go env GOPATH)/bin/versitygw"
  if [ ! -x "$versitygw" ]; then
    echo "backends.sh: building versitygw v1.8.0 (a few minutes, once)" >&2
    GOFLAGS= go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 ||
      { backends_fail "cannot build versitygw"; return 1; }
  fi

  BACKENDS_DIR=$(mktemp -d /tmp/nessemble-backends.XXXXXX)
  chmod 755 "$BACKENDS_DIR"
  mkdir -p "$BACKENDS_DIR/pg" "$BACKENDS_DIR/sock" "$BACKENDS_DIR/s3"
  local pguser=postgres
  if [ "$(id -u)" = 0 ]; then
    id "$pguser" >/dev/null 2>&1 || useradd --system --no-create-home "$pguser"
    chown "$pguser" "$BACKENDS_DIR/pg" "$BACKENDS_DIR/sock"
    pgrun() { runuser -u "$pguser" -- "$@"; }
  else
    pguser=$(id -un)
    pgrun() { "$@"; }
  fi
  # A throwaway cluster: no fsync (the tests' data need not survive a
  # power cut), trust on the socket only, no TCP.
  pgrun "$pgbin/initdb" -D "$BACKENDS_DIR/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$BACKENDS_DIR/initdb.log" 2>&1 ||
    { cat "$BACKENDS_DIR/initdb.log" >&2; backends_fail "initdb failed"; return 1; }
  pgrun "$pgbin/pg_ctl" -D "$BACKENDS_DIR/pg/data" -l "$BACKENDS_DIR/pg/log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories=$BACKENDS_DIR/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$BACKENDS_DIR/pg/log" >&2; backends_fail "PostgreSQL did not start"; return 1; }
  BACKENDS_PG_CTL="$pgbin/pg_ctl"
  BACKENDS_PG_USER=$pguser
  export NESSEMBLE_TEST_POSTGRES="postgres://postgres@/postgres?host=$BACKENDS_DIR/sock&sslmode=disable"

  # versitygw's POSIX backend: buckets are folders under s3/.
  export AWS_ACCESS_KEY_ID=nessemble-test AWS_SECRET_ACCESS_KEY=nessemble-test-secret
  for i in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 20000))
    ss -ltn "sport = :$port" 2>/dev/null | grep -q LISTEN || break
  done
  ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    "$versitygw" --port "127.0.0.1:$port" posix "$BACKENDS_DIR/s3" >"$BACKENDS_DIR/s3.log" 2>&1 &
  BACKENDS_S3_PID=$!
  for i in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$BACKENDS_S3_PID" 2>/dev/null || { cat "$BACKENDS_DIR/s3.log" >&2; backends_fail "versitygw exited"; return 1; }
    sleep 0.1
  done
  export NESSEMBLE_TEST_S3="s3://?endpoint=http://127.0.0.1:$port&region=us-east-1"
  echo "backends.sh: PostgreSQL on $BACKENDS_DIR/sock, S3 on 127.0.0.1:$port" >&2
}

backends_stop() {
  if [ -n "${BACKENDS_S3_PID:-}" ]; then
    kill "$BACKENDS_S3_PID" 2>/dev/null; wait "$BACKENDS_S3_PID" 2>/dev/null
    BACKENDS_S3_PID=
  fi
  if [ -n "${BACKENDS_PG_CTL:-}" ]; then
    if [ "$(id -u)" = 0 ]; then
      runuser -u "$BACKENDS_PG_USER" -- "$BACKENDS_PG_CTL" -D "$BACKENDS_DIR/pg/data" -m fast stop >/dev/null 2>&1
    else
      "$BACKENDS_PG_CTL" -D "$BACKENDS_DIR/pg/data" -m fast stop >/dev/null 2>&1
    fi
    BACKENDS_PG_CTL=
  fi
  [ -n "${BACKENDS_DIR:-}" ] && rm -rf "$BACKENDS_DIR"
  BACKENDS_DIR=
  unset NESSEMBLE_TEST_POSTGRES NESSEMBLE_TEST_S3
  return 0 # as an EXIT trap, its status would become the script's
}

backends_start || { backends_stop; false; }
trap backends_stop EXIT
