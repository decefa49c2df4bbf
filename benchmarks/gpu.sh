#!/usr/bin/env bash
# GPU benchmark (issue #17): runs benchmarks/bench_gpu.py on a CUDA machine, whole script ≤ 470 s.
#
#   bash benchmarks/gpu.sh [extra bench_gpu.py options]
#
# Needs no network. Picks the first Python whose torch sees a CUDA GPU: $PYTHON, .venv/bin/python,
# python3, python3.12, python3.11. The repository is imported from the checkout (no install needed).
# If that Python lacks a module the benchmark imports (diffusers, pydantic, pydantic-settings, …),
# wheels in $IMAGINEBOT_WHEELS (default .whl/) are installed with --no-index into a temporary
# folder put on PYTHONPATH; otherwise it prints what is missing and exits 3. Wheels for a Python 3.12
# machine, fetched beforehand where pip works:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 pydantic==2.14.4 pydantic_core==2.50.5 \
#     pydantic-settings==2.16.3 python-dotenv==1.2.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
#     typing_extensions==4.16.0
# Results: $OUT/gpu.json and $OUT/gpu.log when OUT is set, else benchmarks/gpu-results.json.
# Exit status: the benchmark's (124: it ran past the time limit; what it measured is in the file).
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=${BENCH_LIMIT_S:-470}  # seconds for this whole script
BUDGET=${BENCH_BUDGET_S:-420}  # no benchmark part starts after this
WHEELS=${IMAGINEBOT_WHEELS:-.whl}
SITE=/tmp/imaginebot-bench-site

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" .venv/bin/python python3 python3.12 python3.11; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if timeout 120 "$candidate" -c \
      'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! PY=$(pick_python); then
  echo "no Python with a CUDA-enabled torch found (tried \$PYTHON, .venv/bin/python, python3, python3.12," \
    "python3.11); install torch with CUDA, or set PYTHON" >&2
  exit 3
fi
echo "python: $(command -v "$PY") ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

if ! "$PY" benchmarks/bench_gpu.py --check; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "installing the wheels in $WHEELS into $SITE (offline)"
    rm -rf "$SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PY" benchmarks/bench_gpu.py --check; then
      echo "still missing modules after installing $WHEELS/*.whl (see above)" >&2
      exit 3
    fi
  else
    echo "$PY cannot run the benchmark (see above) and there are no wheels in $WHEELS/;" \
      "fetch them where pip works (command at the top of benchmarks/gpu.sh) and carry them" >&2
    exit 3
  fi
fi

if [ -n "${OUT:-}" ]; then
  RESULT="$OUT/gpu.json"
  LOG="$OUT/gpu.log"
else
  RESULT=benchmarks/gpu-results.json
  LOG=/dev/null
fi

left=$((LIMIT - SECONDS - 5))  # 5 s for the summary
if [ "$left" -lt 60 ]; then
  echo "only ${left} s left of the ${LIMIT} s limit; not starting" >&2
  exit 3
fi
budget=$(( BUDGET < left - 40 ? BUDGET : left - 40 ))
echo "benchmark: budget ${budget} s, killed after ${left} s"

set +e
PYTHONUNBUFFERED=1 timeout -k 5 "$((left - 5))" "$PY" benchmarks/bench_gpu.py \
  --budget-s "$budget" --out "$RESULT" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

echo "== results ($RESULT; exit status $rc, ${SECONDS} s in all)"
if [ -s "$RESULT" ]; then
  "$PY" benchmarks/bench_gpu.py --summary "$RESULT" || true
fi
exit "$rc"
