#!/usr/bin/env bash
# Mutation testing of the pure modules with mutmut: small bugs are planted in the code one at a
# time, and each must make one of the module's unit tests fail ("killed"). A mutant that
# survives is either a missing test or an equivalent change; tests/mutation_review.md says which.
#
# Usage: scripts/mutation.sh [module...]     modules: expr engine lineproto snmp_ber config_text
#        (default: all five). Results stay in mutants/ (git-ignored): `.venv/bin/mutmut show NAME`
#        prints one mutant's diff, `.venv/bin/mutmut results` lists the survivors again.
#
# Only the unit tests of the pure modules run (pyproject.toml, [tool.mutmut]), and for each mutant
# only those that execute its function. snmp_ber is mutated on its decode path only (the parser of
# untrusted datagrams; the encoder is pinned byte for byte against pyasn1). mutmut mutates code
# inside functions only: module-level tables (e.g. the operator mirror table of expr.py) are not
# mutated and rely on their own table tests. Runs at nice 10: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A globs=(
  [expr]="monitor.rules.expr.*"
  [engine]="monitor.rules.engine.*"
  [lineproto]="monitor.lineproto.*"
  [snmp_ber]="$(printf 'probes.snmp_ber.x_%s__mutmut_* ' _header read_header _small_integer read_small_integer \
                _oid_text _decode_oid _decode_value _decode_varbinds decode_pdu _peek_request_id decode_message \
                _decode_message)"
  [config_text]="probes.config_text.*"
)
order=(expr engine lineproto snmp_ber config_text)

modules=("$@")
[ "${#modules[@]}" -gt 0 ] || modules=("${order[@]}")
selected=()
for module in "${modules[@]}"; do
  if [ -z "${globs[$module]+set}" ]; then
    echo "unknown module '$module'; choose from: ${order[*]}" >&2
    exit 2
  fi
  # shellcheck disable=SC2206  # the globs are mutmut's, split on spaces on purpose
  selected+=(${globs[$module]})
done

if [ ! -x .venv/bin/mutmut ]; then
  scripts/setup-venv.sh mutation
fi

# A fresh mutants/ each time: mutmut reuses earlier verdicts for unchanged functions, which is
# right for the code but wrong when only the tests changed.
rm -rf mutants
set -f  # the globs are for mutmut, not for the shell
log=$(mktemp)
if ! nice -n 10 .venv/bin/mutmut run "${selected[@]}" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  rm -f "$log"
  echo "mutmut failed (its output is above)" >&2
  exit 1
fi
rm -f "$log"

# One line per mutant: "name: status". Counted per module; survivors listed by name.
results=$(.venv/bin/mutmut results --all true 2>/dev/null | sed -n 's/^ *\([a-z_.]*\.x[^:]*\): \(.*\)$/\1 \2/p')
# "other": suspicious, segfault or not checked; none should appear in a complete run.
printf '%-12s %7s %7s %8s %8s %8s %6s\n' module mutants killed survived "no tests" timeout other
for module in "${modules[@]}"; do
  pattern=""
  for glob in ${globs[$module]}; do
    pattern+="${pattern:+|}^${glob//\*/.*} "
  done
  mine=$(grep -E "$pattern" <<<"$results" || true)
  count() { grep -c " $1\$" <<<"$mine" || true; }
  total=$(grep -c . <<<"$mine" || true)
  killed=$(count killed) survived=$(count survived) untested=$(count 'no tests') timeout=$(count timeout)
  printf '%-12s %7s %7s %8s %8s %8s %6s\n' "$module" "$total" "$killed" "$survived" "$untested" "$timeout" \
    $((total - killed - survived - untested - timeout))
done
survivors=$(grep -E ' (survived|no tests)$' <<<"$results" || true)
if [ -n "$survivors" ]; then
  echo
  echo "not killed (review each in tests/mutation_review.md; .venv/bin/mutmut show NAME for the diff):"
  sed 's/^/  /' <<<"$survivors"
fi
