#!/bin/sh
# The version of this tree, as `firmloop --version` and the .deb say it (Debian's version syntax,
# so dpkg orders builds along main): $FIRMLOOP_VERSION when set (a release tarball, or a test
# that stamps a newer build), else VERSION's number plus, in a git checkout, the commit count
# and hash: 0.9.0+git171.045dea5, ".dirty" appended when the tree has uncommitted changes.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${FIRMLOOP_VERSION:-}" ]; then echo "$FIRMLOOP_VERSION"; exit 0; fi
BASE=$(cat VERSION)
if N=$(git rev-list --count HEAD 2>/dev/null) && H=$(git rev-parse --short=7 HEAD 2>/dev/null); then
    D=$(git diff --quiet HEAD -- 2>/dev/null || echo .dirty)
    echo "$BASE+git$N.$H$D"
else
    echo "$BASE"
fi
