# Shared by the command-line tests (cli_test.sh, faults_test.sh): a scratch folder, pass
# and fail counts, and the check of a refused input. Sourced after jcas="$1".
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# expect_error "needle" cmd... : non-zero exit, one stderr line containing needle, no out file
expect_error() {
  local needle="$1"; shift
  rm -f "$dir/out.h5"
  "$@" >"$dir/stdout" 2>"$dir/stderr"
  local rc=$?
  local lines; lines=$(wc -l <"$dir/stderr")
  if [ $rc -eq 0 ]; then bad "exit 0 for: $*"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$lines stderr lines for: $* :: $(cat "$dir/stderr")"; return; fi
  if ! grep -qF -- "$needle" "$dir/stderr"; then bad "no '$needle' in: $(cat "$dir/stderr")"; return; fi
  if ls "$dir"/out.h5* >/dev/null 2>&1; then bad "output left behind for: $*"; return; fi
  ok
}
