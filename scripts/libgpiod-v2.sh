#!/usr/bin/env bash
# A static libgpiod v2 built from the C sources that PyPI's `gpiod` source package carries
# (lib/*.c, include/gpiod.h), with a pkg-config file, cached. Prints the directory to put on
# PKG_CONFIG_PATH, so that a build selects the v2 backend on a machine whose system libgpiod is
# v1 (Debian 12):
#     PKG_CONFIG_PATH=$(scripts/libgpiod-v2.sh) swift build --scratch-path .build-gpiod2
# Nothing of that source is kept in the repository; the cache is
# ${FIRMLOOP_GPIOD_CACHE:-~/.cache/firmloop-libgpiod}/gpiod-<pypi version>[-<GPIOD_TARGET>]/.
# For another architecture: GPIOD_TARGET (a name for the cache, aarch64), CC and AR (a cross
# compiler and archiver, as make build-arm64 passes them).
set -euo pipefail
ver=${GPIOD_PYPI_VERSION:-2.5.0}
cache=${FIRMLOOP_GPIOD_CACHE:-$HOME/.cache/firmloop-libgpiod}/gpiod-$ver${GPIOD_TARGET:+-$GPIOD_TARGET}
if [ ! -f "$cache/lib/libgpiod-v2-firmloop.a" ] || [ ! -f "$cache/lib/pkgconfig/libgpiod.pc" ]; then
  mkdir -p "${cache%/*}"
  tmp=$(mktemp -d "${cache%/*}/.build.XXXXXX")   # beside the cache: a cross compiler in a chroot sees it
  trap 'rm -rf "$tmp"' EXIT
  # pip from the system's python, or from a throw-away venv where the system refuses it.
  if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip); else
    python3 -m venv "$tmp/venv" >&2 && pip=("$tmp/venv/bin/python3" -m pip); fi
  "${pip[@]}" download -q --no-deps --no-binary :all: "gpiod==$ver" -d "$tmp" >&2
  tar xzf "$tmp/gpiod-$ver.tar.gz" -C "$tmp"
  src="$tmp/gpiod-$ver"
  api=$(cat "$src/libgpiod-version.txt")
  mkdir -p "$tmp/obj" "$cache.new/lib/pkgconfig" "$cache.new/include"
  for f in "$src"/lib/*.c; do
    ${CC:-cc} -O2 -fPIC -D_GNU_SOURCE "-DGPIOD_API_VERSION_STR=\"$api\"" -I"$src/include" -I"$src/lib" -c "$f" -o "$tmp/obj/$(basename "$f" .c).o"
  done
  ${AR:-ar} rcs "$cache.new/lib/libgpiod-v2-firmloop.a" "$tmp"/obj/*.o   # a name no system library has
  cp "$src/include/gpiod.h" "$cache.new/include/"
  cat > "$cache.new/lib/pkgconfig/libgpiod.pc" <<EOF
prefix=$cache
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libgpiod
Description: libgpiod $api, static, built by firmloop's scripts/libgpiod-v2.sh from PyPI gpiod $ver
Version: $api
Libs: -L\${libdir} -lgpiod-v2-firmloop
Cflags: -I\${includedir}
EOF
  rm -rf "$cache"
  mv "$cache.new" "$cache"
  echo "libgpiod-v2: built libgpiod $api (static) into $cache" >&2
fi
echo "$cache/lib/pkgconfig"
