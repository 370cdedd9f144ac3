#!/bin/sh
# Print a Python >= 3.12: $PYTHON if set, else the first on PATH, else pyenv's (3.12 preferred: the tested one).
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
if [ -n "${PYTHON:-}" ]; then
  if ok "$PYTHON"; then echo "$PYTHON"; exit 0; fi
  echo "PYTHON=$PYTHON is not a Python >= 3.12" >&2; exit 1
fi
for name in python3.12 python3.13 python3.14 python3 python; do
  p=$(command -v "$name" 2>/dev/null) || continue
  if ok "$p"; then echo "$p"; exit 0; fi
done
root=${PYENV_ROOT:-$HOME/.pyenv}
for p in $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 "$root"/versions/3.[2-9][0-9]*/bin/python3 2>/dev/null | sort -V); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "no Python >= 3.12 found: install one, or run with PYTHON=/path/to/python3.12" >&2
exit 1
