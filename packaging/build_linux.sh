#!/usr/bin/env bash
# Build Lookalike as a one-folder Linux app with PyInstaller, then smoke-test the result.
#
#   packaging/build_linux.sh              # build into dist/lookalike/ and run packaging/smoke_test.py
#   SKIP_SMOKE=1 packaging/build_linux.sh # build only
#   PYTHON=/path/to/venv/bin/python packaging/build_linux.sh
#
# Needs the project installed in that Python (pip install -e .[dev]: the smoke test makes tiny models
# with torch and onnx). Output: dist/lookalike/lookalike (+ _internal/), build/pyinstaller/ (scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m pip install -q "pyinstaller>=6.10"
echo "PyInstaller $("$PYTHON" -m PyInstaller --version), $("$PYTHON" --version)"

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/lookalike.spec
end=$(date +%s)
echo "build: $((end - start)) s; size: $(du -sh dist/lookalike | cut -f1) ($(find dist/lookalike -type f | wc -l) files)"

if [[ "${SKIP_SMOKE:-0}" != "1" ]]; then
    "$PYTHON" packaging/smoke_test.py dist/lookalike/lookalike
fi
