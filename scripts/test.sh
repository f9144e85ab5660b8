#!/usr/bin/env bash
# Quick start 2: install what the tests need and run the whole test suite.
# Debian packages are installed with apt-get only when their program is missing; Python
# dependencies go into .venv/. The tests start real servers (VictoriaMetrics, InfluxDB 1.x)
# on loopback and make down/lossy/slow hosts with nftables and network namespaces, so they
# run as root. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# program -> Debian package
declare -A needs=(
  [fping]=fping [influxd]=influxdb [victoria-metrics]=victoria-metrics [nft]=nftables
  [ip]=iproute2 [sysctl]=procps [setpriv]=util-linux [systemd-analyze]=systemd [ping]=iputils-ping
  [curl]=curl [snmpd]=snmpd [snmpget]=snmp [prometheus-snmp-exporter]=prometheus-snmp-exporter
  [sshd]=openssh-server
)
missing=()
for program in "${!needs[@]}"; do
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || [ -x "/sbin/$program" ] \
    || missing+=("${needs[$program]}")
done
# The PostgreSQL server for the fault store's tests (lab/postgres.py starts its own cluster; the
# packaged one is never started). Its binaries are not on PATH. psycopg's wheel brings libpq.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
# The systemd sandbox test installs seccomp filters with the system python3's bindings.
/usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || missing+=(python3-seccomp)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  # Packages with daemons must not start them here (no init system in containers and CI).
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || as_root rm -f /usr/sbin/policy-rc.d
fi

scripts/setup-venv.sh test
# Four pytest-xdist workers, whatever the CPU count: most tests wait on daemons, sockets and
# timeouts rather than compute, so even two cores keep four busy. Each test file runs whole on
# one worker (module fixtures, order within a file), files in the order collected
# (tests/integration, whose files take longest, before tests/unit; not reordered by their
# number of tests, which would leave the longest one-test files for last). Then the tests
# marked `serial` (wall-clock bounds the other workers' load could break) run in one process
# with nothing else of this run beside them. NETVIGIL_TEST_WORKERS sets the count; `-p no:xdist`
# among the arguments runs everything in this one process, in one go.
workers="${NETVIGIL_TEST_WORKERS:-4}"
for arg in "$@"; do
  case "$arg" in no:xdist|-pno:xdist) exec .venv/bin/python -m pytest "$@" ;; esac
done
set +e
.venv/bin/python -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder --serial-tests=exclude "$@"
parallel=$?
# 2, 3, 4: interrupted, internal error, usage error; 5: no test selected in this part.
case "$parallel" in 2|3|4) exit "$parallel" ;; esac
.venv/bin/python -m pytest -n 0 --serial-tests=only "$@"
serial=$?
if [ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ]; then exit 5; fi
for code in "$parallel" "$serial"; do
  case "$code" in 0|5) ;; *) exit "$code" ;; esac
done
exit 0
