#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install what a target needs.
#   tools/setup_env.sh book   -> Debian: espeak-ng fluidsynth timgm6mb-soundfont (+ npm if absent); pip: .[data,verifiers,book,audiosr]
#                                and audiosr (no deps)
#   tools/setup_env.sh test   -> the same plus .[adapters,test,ray], audiobox-aesthetics (no deps) and Debian's chromium
#   tools/setup_env.sh test-slow -> the same as test
# The venv is .venv (override with VENV=...); torch comes from TORCH_SPEC (default torch==2.13.0, a CPU build).
# Run as root it installs the Debian packages itself; otherwise it prints the apt-get line and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-test}"
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"

apt_pkgs=(espeak-ng fluidsynth timgm6mb-soundfont)
[ "$target" != book ] && apt_pkgs+=(chromium)  # the headless-browser check (one page in the default run)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing. Install them, then run again:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
# A plain `torch` would pull a multi-GB CUDA build; take the small CPU wheel unless torch is already there.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch (${TORCH_SPEC:-torch==2.13.0})"
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
fi
extras="data,verifiers,book,audiosr"
[ "$target" != book ] && extras="data,verifiers,book,audiosr,adapters,test,ray"
stamp="$VENV/.tsr-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing tsrlib[$extras]"
  "${pip[@]}" -e ".[$extras]"
  # The tests build the Audiobox-Aesthetics adapter on random weights; its torchaudio pin would replace torch.
  [ "$target" != book ] && "${pip[@]}" --no-deps "audiobox-aesthetics>=0.0.4"
  # Chapter 12 and the tests build the AudioSR package's own classes on random weights; its pins (numpy<=1.23.5,
  # librosa==0.9.2, transformers==4.30.2, torchaudio) would replace this environment, so: no deps, and the
  # audiosr extra supplies what its model classes import (tsrlib/models/audiosr.py).
  "${pip[@]}" --no-deps "audiosr==0.0.7"
  touch "$stamp"
fi
