#!/usr/bin/env bash
# Quick start 1: set up .venv (with snmpsim), replay recordings of real devices (a UPS, two
# switches, a machine-room sensor, an NVR: config/demo/snmprec/README.md) with snmpsim on
# loopback addresses, run the daemon on the bundled demo (embedded store under .demo-state/),
# show `netvigil status` once every device has been probed and the demo's fault is open, say
# where Grafana goes, and keep running until Ctrl-C.
#
#   scripts/demo.sh          run until Ctrl-C
#   scripts/demo.sh --once   show status and the open faults, stop everything, exit
#                            (0, or 1 when the demo did not come up within DEMO_WAIT_S)
#
# DEMO_SECONDS=N stops it N seconds after the status is shown. Settings may be overridden from
# the environment as for any netvigil (docs/configuration.md), e.g. an InfluxDB output, or
# NETVIGIL_STATE_DIR=/absolute/path for a state directory other than .demo-state/ (the test
# of this script uses one of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077  # the state directory is the daemon's: owner-only, as it wants it

once=""
case "${1:-}" in
  "") ;;
  --once) once=1 ;;
  *) echo "usage: scripts/demo.sh [--once]" >&2; exit 2 ;;
esac

config=config/demo/netvigil.yaml
state="${NETVIGIL_STATE_DIR:-.demo-state}"
# The demo's SNMP devices (config/demo/inventory.yaml) and the port their agents answer on.
# stats-ups-01 (127.0.30.4) is left out on purpose: its "card" does not answer, which opens the
# demo's fault. tests/unit/test_demo.py checks this list against the inventory.
snmp_port=16161
snmp_addresses=(127.0.10.1 127.0.10.4 127.0.10.5 127.0.20.1 127.0.21.20)
wait_s="${DEMO_WAIT_S:-90}"

scripts/setup-venv.sh demo
# (its warnings about the API token and alert channels do not matter for a demo)
if ! problems=$(.venv/bin/netvigil check -c "$config" 2>&1); then
  echo "$problems" >&2; exit 2
fi
mkdir -p "$state"

snmpsim="" daemon="" sleeper=""
stop_all() {
  # Each process by its own pid, the daemon first (it stops polling the agents).
  for pid in $daemon $snmpsim $sleeper; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $daemon $snmpsim $sleeper; do
    wait "$pid" 2>/dev/null || true
  done
  daemon="" snmpsim="" sleeper=""
}
trap 'stop_all' EXIT
trap 'exit 0' INT TERM

# snmpsim: every recording of config/demo/snmprec/ on every address; the community is the
# recording's file name. As root it refuses to run unless told; dropping privileges to
# `nobody` instead would break a Python installed under /root.
endpoints=()
for address in "${snmp_addresses[@]}"; do
  endpoints+=("--agent-udpv4-endpoint=$address:$snmp_port")
done
mkdir -p "$state/snmpsim-cache"
SNMPSIM_ALLOW_ROOT=true .venv/bin/snmpsim-command-responder --log-level=error \
  --cache-dir="$state/snmpsim-cache" --data-dir=config/demo/snmprec "${endpoints[@]}" \
  >"$state/snmpsim.log" 2>&1 &
snmpsim=$!

ready=""
for _ in $(seq 1 30); do
  if ! kill -0 "$snmpsim" 2>/dev/null; then
    echo "snmpsim stopped at start (is UDP port $snmp_port of ${snmp_addresses[*]} taken?); its log:" >&2
    cat "$state/snmpsim.log" >&2; exit 1
  fi
  if .venv/bin/netvigil probe ups-room-01 --kind snmp -c "$config" >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "snmpsim did not answer on ${snmp_addresses[0]}:$snmp_port; its log is $state/snmpsim.log" >&2
  exit 1
fi

.venv/bin/netvigil run -c "$config" 2> >(tee "$state/daemon.log" >&2) &
daemon=$!

# Wait until this daemon (not a previous run's embedded store) has probed every device, polled
# every SNMP device, and the rules have opened the demo's fault (two polls of the silent card).
echo "waiting for the first probe runs, SNMP polls and fault rules (about 20 s) ..." >&2
ready=""
for _ in $(seq 1 "$wait_s"); do
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "the daemon stopped; its log is above and in $state/daemon.log" >&2
    exit 1
  fi
  if .venv/bin/netvigil status -c "$config" --json 2>/dev/null | .venv/bin/python -c '
import json, sys
answer = json.load(sys.stdin)
devices = answer["devices"]
done = (answer["source"] == "daemon" and answer["daemon"].get("open_faults", 0) >= 1
        and all(d["state"] != "pending" for d in devices)
        and sum(1 for d in devices if d.get("health")) >= 5)
sys.exit(0 if done else 1)' 2>/dev/null; then
    ready=1; break
  fi
  sleep 1
done
echo
.venv/bin/netvigil status -c "$config"
cat <<EOF

Grafana: the dashboards and provisioning files are in grafana/; how to install them: docs/grafana.md.
  They query InfluxDB (1.x, or 2.x through a DBRP mapping). This demo writes to the embedded
  store ($state/metrics.db), which only netvigil status reads. To feed an InfluxDB 1.x on this
  machine instead (influx -execute 'CREATE DATABASE netvigil' once), run:
    NETVIGIL_OUTPUTS__INFLUXDB_V1__URL=http://127.0.0.1:8086 NETVIGIL_OUTPUTS__INFLUXDB_V1__DATABASE=netvigil \\
    NETVIGIL_OUTPUTS__EMBEDDED__ENABLED=true bash scripts/demo.sh
  and point Grafana's datasource at http://127.0.0.1:8086, database netvigil; on the Grafana host:
    netvigil grafana install --dir /etc/grafana/provisioning --datasource-url http://127.0.0.1:8086 --database netvigil
EOF
if [ -z "$ready" ]; then
  echo "the demo did not come up within $wait_s s (see above and $state/daemon.log)" >&2
  exit 1
fi
if [ -n "$once" ]; then
  exit 0
fi
echo
echo "netvigil is running (pid $daemon), snmpsim too (pid $snmpsim). Again: .venv/bin/netvigil status -c $config"
echo "Faults: .venv/bin/netvigil faults -c $config (faults show ID, ack, resolve: README). Stop the demo: Ctrl-C"
if [ -n "${DEMO_SECONDS:-}" ]; then
  # In the background, so that a signal ends the wait at once (bash runs a trap only after a
  # foreground command ends); stop_all ends the sleep too.
  sleep "$DEMO_SECONDS" &
  sleeper=$!
  wait "$sleeper" || true
  exit 0
fi
# Until Ctrl-C, looking every second. Not one long `wait "$daemon"`: a signal that reaches bash
# as it enters `wait` can be taken without its trap ever running, and the demo then ignored
# Ctrl-C for as long as the daemon ran (about once in a hundred on a busy machine). A trap
# runs as soon as a foreground command ends, and `sleep 1` always ends.
while kill -0 "$daemon" 2>/dev/null; do
  sleep 1
done
wait "$daemon"  # the daemon ended by itself: its exit status is the demo's
