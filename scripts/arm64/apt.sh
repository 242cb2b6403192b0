# Sourced: Debian packages of any suite and architecture without touching the host's apt
# sources or dpkg database (a private apt state per suite and architecture, packages unpacked
# with dpkg -x). Needs CACHE (where the states and downloads live), MIRROR and log().

# apt_get SUITE ARCH ARGS...: apt-get with a private state for that suite and architecture.
apt_get() {
    local suite=$1 arch=$2 d=$CACHE/apt/$1-$2
    shift 2
    if [ ! -f "$d/apt.conf" ]; then
        mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts" "$d/prefs"
        : > "$d/status"
        local key=signed-by=/usr/share/keyrings/debian-archive-keyring.gpg
        echo "deb [arch=$arch $key] $MIRROR $suite main" > "$d/sources.list"
        # A stable suite with its updates and security fixes (OpenSSL's, the kernel's), as a
        # Pi running it has them.
        if [ "$suite" != sid ]; then
            echo "deb [arch=$arch $key] $MIRROR $suite-updates main" >> "$d/sources.list"
            echo "deb [arch=$arch $key] ${SECURITY_MIRROR:-http://deb.debian.org/debian-security} $suite-security main" >> "$d/sources.list"
        fi
        cat > "$d/apt.conf" <<EOF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
Dir::State "$d";
Dir::State::lists "$d/lists";
Dir::State::status "$d/status";
Dir::Cache "$d/cache";
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "$d/parts";
Dir::Etc::preferencesparts "$d/prefs";
Debug::NoLocking "true";
APT::Sandbox::User "root";
EOF
    fi
    APT_CONFIG=$d/apt.conf apt-get -qq -o=Dpkg::Use-Pty=0 "$@"
}

# fetch SUITE ARCH DEST PACKAGES...: the packages and what they depend on (downloaded into
# debs/<DEST's name>), unpacked into DEST.
fetch() {
    local suite=$1 arch=$2 dest=$3 debs=$CACHE/debs/$(basename "$3")
    shift 3
    mkdir -p "$debs/partial" "$dest"
    apt_get "$suite" "$arch" update || { log "cannot reach $MIRROR ($suite, $arch)"; exit 3; }
    apt_get "$suite" "$arch" -o Dir::Cache::archives="$debs" install --download-only -y "$@" >/dev/null \
        || { log "cannot download $* ($suite, $arch)"; exit 3; }
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$dest"; done
    rm -rf "$debs"   # unpacked: the part's .ready keeps it
}
