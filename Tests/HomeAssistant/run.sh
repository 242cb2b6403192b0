#!/usr/bin/env bash
# make test-home-assistant (part of make test): the firmware against a real Home Assistant.
#
# Installs the newest Home Assistant that pip accepts on the newest Python this machine has
# (python3.N on PATH, or pyenv's versions; Home Assistant needs 3.12 or later) into a venv
# cached in ~/.cache/firmloop/home-assistant/<python>, then runs ha_test.py with it (the venv
# has aiohttp, the test's HTTP and websocket client). Where no such Python is, or PyPI cannot
# be reached for a first install, it says why and skips (exit 0); FIRMLOOP_HA=0 skips it too.
# FIRMLOOP_HA_UPGRADE=1 upgrades a cached install to the newest release.
set -euo pipefail
cd "$(dirname "$0")/../.."

skip() { echo "home-assistant: SKIPPED: $*"; exit 0; }
[ "${FIRMLOOP_HA:-1}" = 0 ] && skip "FIRMLOOP_HA=0"
command -v mosquitto >/dev/null || skip "no mosquitto (make deps installs it)"

# The newest Python 3.12+ there is.
best="" bestv=0
for py in $(compgen -c python3. | sort -u) ~/.pyenv/versions/*/bin/python3; do
  p=$(command -v "$py" 2>/dev/null || true)
  [ -n "$p" ] && [ -x "$p" ] || continue
  v=$("$p" -c 'import sys; print(sys.version_info[0] * 10000 + sys.version_info[1] * 100 + sys.version_info[2])' 2>/dev/null) || continue
  "$p" -c 'import venv, ensurepip' 2>/dev/null || continue
  if [ "$v" -gt "$bestv" ]; then best=$p bestv=$v; fi
done
[ "$bestv" -ge 31200 ] || skip "no Python 3.12 or later here (Home Assistant needs one; pyenv install 3.13 gives one)"
pyver=$("$best" -c 'import platform; print(platform.python_version())')

cache=${XDG_CACHE_HOME:-$HOME/.cache}/firmloop/home-assistant/python-$pyver
venv=$cache/venv
mkdir -p "$cache"
if [ ! -e "$venv/.installed" ]; then
  echo "home-assistant: installing the newest Home Assistant for Python $pyver into $venv (cached; minutes the first time)"
  rm -rf "$venv"
  "$best" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check homeassistant > "$cache/install.log" 2>&1 \
    || { tail -5 "$cache/install.log"; rm -rf "$venv"; skip "pip could not install homeassistant on Python $pyver (log above)"; }
  touch "$venv/.installed"
elif [ "${FIRMLOOP_HA_UPGRADE:-0}" = 1 ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -U homeassistant
fi
echo "home-assistant: Home Assistant $("$venv/bin/python3" -c 'from homeassistant.const import __version__; print(__version__)') on Python $pyver"
exec "$venv/bin/python3" Tests/HomeAssistant/ha_test.py "$@"
