#!/usr/bin/env bash
# Install the systemd unit and the system user for a netvigil checkout wherever it lives.
#
# Usage: sudo scripts/install-systemd.sh [--prefix DIR] [--root DIR]
#   --prefix DIR  the checkout whose .venv/bin/netvigil the unit runs (default: this checkout)
#   --root DIR    write under DIR instead of / (packaging, tests); systemctl and
#                 systemd-sysusers then only touch DIR
#
# systemd/netvigil.service names /opt/netvigil; this writes a copy whose ExecStart= and
# Documentation= point at the prefix, /etc/systemd/system/netvigil.service, and the user from
# systemd/netvigil.sysusers.conf as /etc/sysusers.d/netvigil.conf. Exit 2: the prefix cannot
# work (no venv, or a place the unit's sandbox hides).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$here"
root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-systemd.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
prefix="${prefix%/}"
case "$prefix" in
  /*) ;;
  *) echo "install-systemd.sh: --prefix must be an absolute path, got '$prefix'" >&2; exit 2 ;;
esac
# ProtectHome=yes in the unit makes /home, /root and /run/user empty for the daemon: a venv
# there would not be found at start ("status=203/EXEC"), so say it now.
case "$prefix/" in
  /home/*|/root/*|/run/user/*)
    echo "install-systemd.sh: $prefix is hidden from the service by ProtectHome=yes; clone the" \
         "repository under /opt, /srv or /usr/local instead" >&2
    exit 2 ;;
esac
if [ ! -x "$root$prefix/.venv/bin/netvigil" ]; then
  echo "install-systemd.sh: $root$prefix/.venv/bin/netvigil does not exist; run scripts/setup-venv.sh in" \
       "$prefix first" >&2
  exit 2
fi

unit_dir="$root/etc/systemd/system"
sysusers_dir="$root/etc/sysusers.d"
install -d -m 0755 "$unit_dir" "$sysusers_dir"
sed -e "s|^ExecStart=/opt/netvigil/|ExecStart=$prefix/|" \
    -e "s|^Documentation=file:///opt/netvigil/|Documentation=file://$prefix/|" \
    "$here/systemd/netvigil.service" >"$unit_dir/netvigil.service.new"
chmod 0644 "$unit_dir/netvigil.service.new"
mv "$unit_dir/netvigil.service.new" "$unit_dir/netvigil.service"
install -m 0644 "$here/systemd/netvigil.sysusers.conf" "$sysusers_dir/netvigil.conf"

if [ -n "$root" ]; then
  systemd-sysusers --root="$root" "$sysusers_dir/netvigil.conf"
else
  systemd-sysusers "$sysusers_dir/netvigil.conf"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
fi
echo "installed $unit_dir/netvigil.service (ExecStart=$prefix/.venv/bin/netvigil) and the user netvigil"
