#!/usr/bin/env bash
# A user's first commands, from a wheel: build the wheel from the checkout's files, install
# "imdb-edge[export]" in a fresh venv outside the checkout, run
#   imdb-edge export --format tflite --quantize dynamic --batch 1
# from an empty folder with no other flag and no network (it must pass its validation),
# then score the artifact in a fresh "imdb-edge[litert]" venv that has no TensorFlow.
#
#   scripts/check_wheel.sh              (PYTHON=python3.11 to choose the interpreter)
#
# pip reads its usual index and cache; only the imdb-edge commands run without a network
# (in a network namespace of their own when unshare allows it, else behind a dead proxy).
set -euo pipefail

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/imdb-edge-wheel-XXXXXX")
trap 'rm -rf "$work"' EXIT
pip_flags=(--quiet --disable-pip-version-check)
install_flags=("${pip_flags[@]}" --no-compile)  # TensorFlow has thousands of modules to byte-compile
started=$SECONDS

step() { printf 'check_wheel: [%3ss] %s\n' "$((SECONDS - started))" "$*"; }

offline() {
    if unshare -rn true 2>/dev/null; then
        unshare -rn "$@"
    else
        env http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
            HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 no_proxy= NO_PROXY= "$@"
    fi
}

step "copying the checkout's files (tracked, and untracked but not ignored)"
mkdir -p "$work/src" "$work/dist" "$work/user"
git -C "$root" ls-files -z --cached --others --exclude-standard \
    | tar -C "$root" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar xf - -C "$work/src"

step "building the wheel"
"$PYTHON" -m pip wheel "${pip_flags[@]}" --no-deps -w "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/imdb_edge-*.whl)
step "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KB)"

step "installing imdb-edge[export] in a fresh venv"
"$PYTHON" -m venv "$work/export-venv"
"$work/export-venv/bin/pip" install "${install_flags[@]}" "$wheel[export]"

step "imdb-edge export --format tflite --quantize dynamic --batch 1 (from an empty folder, offline)"
(cd "$work/user" && offline "$work/export-venv/bin/imdb-edge" export \
    --format tflite --quantize dynamic --batch 1)
artifact="$work/user/artifacts/imdb-dynamic-b1.tflite"

step "installing imdb-edge[litert] in another fresh venv"
"$PYTHON" -m venv "$work/litert-venv"
"$work/litert-venv/bin/pip" install "${install_flags[@]}" "$wheel[litert]"

step "imdb-edge score on LiteRT alone (offline)"
scored=$(cd "$work/user" && offline "$work/litert-venv/bin/imdb-edge" score "$artifact" \
    --backend litert --text "A moving, beautifully acted film.")
echo "$scored"
"$work/litert-venv/bin/python" - "$artifact.json" "$scored" <<'EOF'
import importlib.util, json, sys
side, line = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
assert importlib.util.find_spec("tensorflow") is None, "the [litert] venv has TensorFlow"
parity = side.get("parity") or {}
assert parity.get("reviews", 0) > 0, f"the export was not validated: {side.get('parity')}"
assert 0.0 <= line["probability"] <= 1.0, line
print(f"check_wheel: validated at export on {parity['reviews']} reviews "
      f"(agreement {100 * parity['agreement']:.2f} %); scored {line['probability']:.4f}")
EOF
step "passed"
