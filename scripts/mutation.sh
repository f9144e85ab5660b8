#!/usr/bin/env bash
# Mutation testing of the pure modules with mutmut: small bugs are planted in the code one at a
# time, and each must make one of the module's unit tests fail ("killed"). A mutant that
# survives is either a missing test or an equivalent change; tests/mutation_review.md says which.
#
# Usage: scripts/mutation.sh [module...]     modules: expr engine lineproto snmp_ber config_text
#        config_mask secret_catalogue workdays monthly partition (default: all). config_text, config_mask and
#        secret_catalogue are configuration masking:
#        normalising and the rule sets, the masking engine with its generic net, and the compiler of
#        the vendor catalogues. Results stay in mutants/ (git-ignored): `.venv/bin/mutmut show
#        NAME` prints one mutant's diff.
#
# Only the unit tests of the pure modules run (pyproject.toml, [tool.mutmut]), and for each mutant
# only those that execute its function. snmp_ber is mutated on its decode path only (the parser of
# untrusted datagrams; the encoder is pinned byte for byte against pyasn1). mutmut mutates code
# inside undecorated functions only: module-level tables (e.g. the operator mirror table of
# expr.py, the regular expressions of the generic net) are not mutated and rely on their own table
# tests. Runs at nice 10: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A globs=(
  [expr]="monitor.rules.expr.*"
  [engine]="monitor.rules.engine.*"
  [lineproto]="monitor.lineproto.*"
  [snmp_ber]="$(printf 'probes.snmp.ber.x_%s__mutmut_* ' _header read_header _small_integer read_small_integer \
                _oid_text _decode_oid _decode_value _decode_varbinds decode_pdu _peek_request_id decode_message \
                _decode_message)"
  [config_text]="probes.devconfig.text.*"
  [config_mask]="probes.devconfig.mask.*"
  [secret_catalogue]="probes.devconfig.catalogue.*"
  [workdays]="monitor.reports.workdays.*"
  [monthly]="monitor.reports.monthly.*"
  [partition]="monitor.workers.partition.*"
)
order=(expr engine lineproto snmp_ber config_text config_mask secret_catalogue workdays monthly partition)
# Every unit test of a module, for the second look at its survivors (below).
masking_tests="tests/unit/test_config_text.py tests/unit/test_config_masking.py tests/unit/test_config_mask.py
  tests/unit/test_secret_catalogue.py"
declare -A tests=(
  [expr]="tests/unit/test_rule_expr.py"
  [engine]="tests/unit/test_rule_engine.py"
  [lineproto]="tests/unit/test_lineproto.py"
  [snmp_ber]="tests/unit/test_snmp_ber.py"
  [config_text]="$masking_tests"
  [config_mask]="$masking_tests"
  [secret_catalogue]="$masking_tests"
  [workdays]="tests/unit/test_workdays.py"
  [monthly]="tests/unit/test_report_monthly.py"
  [partition]="tests/unit/test_workers_partition.py"
)

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

# One line per mutant: "name status".
results=$(.venv/bin/mutmut results --all true 2>/dev/null | sed -n 's/^ *\([a-z_.]*\.x[^:]*\): \(.*\)$/\1 \2/p')

module_of() {  # the module key whose globs match a mutant's name
  local name=$1 module glob
  for module in "${modules[@]}"; do
    for glob in ${globs[$module]}; do
      # shellcheck disable=SC2053  # the glob is meant to match
      if [[ $name == $glob ]]; then
        echo "$module"
        return
      fi
    done
  done
}

# A second look at every mutant not killed: mutmut runs a mutant against the tests that called its
# function in one instrumented run of all tests, and credits a call to the test running at the time.
# What is computed once and then reused (the generic net's rules built at import, catalogues compiled
# while pytest collects, rule sets and escapes in caches) is credited to the first test only, and
# mutmut's fork server imports the modules, unmutated, before any mutant. So each survivor runs
# once more in a fresh interpreter, mutant active from the first import, against every unit test of
# its module. Exit 0: it survives; 1, or a collection or import error (2, 3), or the time limit:
# killed; 4 or 5 means the test command itself is wrong.
rechecked=""
survivors=$(grep -E ' (survived|no tests)$' <<<"$results" || true)
while read -r name _; do
  [ -n "$name" ] || continue
  module=$(module_of "$name")
  status=0
  # shellcheck disable=SC2086  # the test paths are split on spaces on purpose
  (cd mutants && MUTANT_UNDER_TEST="$name" timeout 300 nice -n 10 ../.venv/bin/python -m pytest -x -q \
    -p no:randomly -p no:cacheprovider ${tests[$module]} >/dev/null 2>&1) || status=$?
  case $status in
    0) ;;
    4|5) echo "re-running $name: pytest could not run ${tests[$module]} (exit $status)" >&2; exit 1 ;;
    *) rechecked+="$name"$'\n' ;;
  esac
done <<<"$survivors"
if [ -n "$rechecked" ]; then
  results=$(awk 'NR == FNR { if ($1 != "") again[$1] = 1; next }
                 ($1 in again) { print $1, "killed-on-recheck"; next } { print }' \
                <(printf '%s' "$rechecked") - <<<"$results")
fi

# Counted per module; survivors listed by name. "killed" includes the "recheck" column: mutants
# only the second look killed. "other": suspicious, segfault or not checked; none should appear.
printf '%-17s %7s %7s %8s %8s %8s %8s %6s\n' module mutants killed recheck survived "no tests" timeout other
for module in "${modules[@]}"; do
  pattern=""
  for glob in ${globs[$module]}; do
    pattern+="${pattern:+|}^${glob//\*/.*} "
  done
  mine=$(grep -E "$pattern" <<<"$results" || true)
  count() { grep -c " $1\$" <<<"$mine" || true; }
  total=$(grep -c . <<<"$mine" || true)
  again=$(count killed-on-recheck)
  killed=$(( $(count killed) + again )) survived=$(count survived) untested=$(count 'no tests')
  timeout=$(count timeout)
  printf '%-17s %7s %7s %8s %8s %8s %8s %6s\n' "$module" "$total" "$killed" "$again" "$survived" "$untested" \
    "$timeout" $((total - killed - survived - untested - timeout))
done
survivors=$(grep -E ' (survived|no tests)$' <<<"$results" || true)
if [ -n "$survivors" ]; then
  echo
  echo "not killed (review each in tests/mutation_review.md; .venv/bin/mutmut show NAME for the diff):"
  sed 's/^/  /' <<<"$survivors"
fi
