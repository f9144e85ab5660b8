#!/usr/bin/env bash
# Quick start 1: set up .venv and run the daemon on the bundled demo (loopback devices,
# embedded store under .demo-state/), show `netvigil status` once results are in, then keep
# the daemon running until Ctrl-C. DEMO_SECONDS=N stops it after N more seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh

config=config/demo/netvigil.yaml
.venv/bin/netvigil check -c "$config"
mkdir -p .demo-state
.venv/bin/netvigil run -c "$config" 2> >(tee .demo-state/daemon.log >&2) &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; exit 0' INT TERM

# Wait until every device has been probed once (the first runs spread over one interval).
for _ in $(seq 1 60); do
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "the daemon stopped; its log is above and in .demo-state/daemon.log" >&2
    wait "$daemon"; exit 1
  fi
  # (the answer must come from this daemon, not from a previous run's embedded store)
  if answer=$(.venv/bin/netvigil status -c "$config" --json 2>/dev/null) \
     && grep -q '"source": "daemon"' <<<"$answer" && ! grep -q '"state": "pending"' <<<"$answer"; then
    break
  fi
  sleep 1
done
echo
.venv/bin/netvigil status -c "$config"
echo
echo "netvigil is running (pid $daemon). Again: .venv/bin/netvigil status -c $config ; stop: Ctrl-C"
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
  kill -TERM "$daemon"
fi
wait "$daemon"
