#!/usr/bin/env bash
# Emulated Raspberry Pi for imdb-edge: the userland of a Raspberry Pi OS release, built on
# an x86_64 host from Debian's packages and run under qemu user-mode emulation. Nothing Arm
# runs at build time and the host's dpkg/apt state is never touched: apt works from a
# private state in the cache dir (APT_CONFIG), .debs are unpacked with `dpkg -x`, wheels
# are fetched with `pip download --platform`.
#
#   scripts/pi_emulation.sh build [--release R] [--backend B]... [--arch A|all] [--refresh]
#   scripts/pi_emulation.sh run [--release R] [--backend B] [--arch A] [--] PYTHON_ARGS...
#   scripts/pi_emulation.sh info [--release R]   versions and disk used
#   scripts/pi_emulation.sh clean                delete the cache (every release)
#
#   e.g. scripts/pi_emulation.sh run --release trixie --backend litert -- -c "import sys; print(sys.version)"
#
# Releases (--release, default $PI_EMU_RELEASE or bookworm):
#   bookworm         Raspberry Pi OS bookworm 64-bit: Debian 12, arm64, Python 3.11
#                    backends litert, tflite, onnx, numpy; --arch aarch64 | x86_64
#   trixie           Raspberry Pi OS trixie 64-bit: Debian 13, arm64, Python 3.13
#                    backends litert, onnx, numpy (tflite-runtime has no cp313 wheel)
#   bookworm-armhf   a 32-bit OS: Debian 12 armhf, Python 3.11, Debian's python3-numpy;
#                    backend numpy only (LiteRT and onnxruntime publish no armv7 wheels)
#
# Backends, one site dir each, resolved from the project's own extras plus the pins below,
# so a site holds what `pip install "imdb-edge[EXTRA]"` puts on a Pi:
#   litert -> imdb-edge[litert]   ai-edge-litert, numpy 2
#   tflite -> imdb-edge[tflite]   tflite-runtime 2.14, numpy<2
#   onnx   -> imdb-edge[onnx]     onnxruntime, numpy 2
#   numpy  -> imdb-edge           numpy only (the default for run); on bookworm-armhf the
#                                 site is empty and numpy is Debian's python3-numpy
# The runtime's names (load(backend=...)) tflite_runtime and onnxruntime are accepted too.
# The emulated arch (aarch64, or armv7l for bookworm-armhf) is the default; on bookworm
# --arch x86_64 runs the same pinned wheels natively on the host's Python 3.11 (with -S: no
# host site-packages), the reference of the aarch64-vs-x86_64 test.
# `run` builds what it needs first; every step is cached and stamped under the cache dir.
#
# Environment:
#   IMDB_EDGE_CACHE   cache root (default ~/.cache/imdb-edge); this tool uses <root>/pi-emulation
#   PI_EMU_RELEASE    default release (bookworm)
#   PI_EMU_CPU        emulated CPU (default cortex-a72 = Raspberry Pi 4 on arm64, cortex-a7 =
#                     Raspberry Pi 2 on armhf; cortex-a76 = Pi 5)
#   PI_EMU_PYTHON     host Python 3.11 with pip (default: $VIRTUAL_ENV, repo .venv, python3.11)
#   PI_EMU_MIRROR, PI_EMU_SECURITY_MIRROR   Debian mirrors (default: the host's, else
#                     deb.debian.org)
#   PI_EMU_KEYRING    Debian keyring (default /usr/share/keyrings/debian-archive-keyring.gpg)
#   PI_EMU_QUIET=1    no progress or timing lines on stderr for cached steps and runs
set -euo pipefail

# ----------------------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE=${IMDB_EDGE_CACHE:-$HOME/.cache/imdb-edge}/pi-emulation
KEYRING=${PI_EMU_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
REFRESH=0                           # build --refresh: apt-get update and re-resolve
RELEASES=(bookworm trixie bookworm-armhf)

# One qemu for every release: bookworm-backports' qemu-user 10 (static binaries; we keep
# qemu-aarch64 and qemu-arm). Debian 12's own qemu 7.2 crashes ai-edge-litert and
# onnxruntime in their CPU detection; qemu 10 runs both, on bookworm and on trixie, and it
# is the same upstream series as trixie's own qemu (1:10.0), whose binaries would need
# trixie's glibc on the host.
QEMU_SUITE=bookworm-backports
QEMU_PACKAGE=qemu-user
QEMU_BINARIES=(qemu-aarch64 qemu-arm)

# set_release R: everything that differs between releases.
#   SUITE       Debian suite (with -updates and -security)
#   DEB_ARCH    Debian architecture of the userland; GUEST: what platform.machine() says
#   QEMU        qemu binary; CPU: default -cpu
#   PY          the release's python3
#   PACKAGES    what to unpack; apt resolves their Depends/Pre-Depends closure
#   BACKENDS    the sites that can exist on this release
#   GLIBC_MAX   the release's glibc minor version: the newest manylinux tag to accept
#   X86         1 if the x86_64 reference sites exist (they need a host Python $PY)
set_release() {
    RELEASE=$1
    case $RELEASE in
        bookworm)
            SUITE=bookworm DEB_ARCH=arm64 GUEST=aarch64 QEMU=qemu-aarch64 CPU=cortex-a72
            PY=3.11 GLIBC_MAX=36 X86=1
            PACKAGES=(python3.11-minimal libpython3.11-stdlib libstdc++6)
            BACKENDS=(litert tflite onnx numpy) ;;
        trixie)
            SUITE=trixie DEB_ARCH=arm64 GUEST=aarch64 QEMU=qemu-aarch64 CPU=cortex-a72
            PY=3.13 GLIBC_MAX=41 X86=0
            PACKAGES=(python3.13-minimal libpython3.13-stdlib libstdc++6)
            BACKENDS=(litert onnx numpy) ;;
        bookworm-armhf)
            # Debian armhf is ARMv7 (Pi 2 and later on a 32-bit OS). Raspberry Pi OS 32-bit
            # rebuilds the same sources for ARMv6 (Pi 1, Zero); its archive is not used here.
            SUITE=bookworm DEB_ARCH=armhf GUEST=armv7l QEMU=qemu-arm CPU=cortex-a7
            PY=3.11 GLIBC_MAX=36 X86=0
            PACKAGES=(python3.11-minimal libpython3.11-stdlib python3-numpy)
            BACKENDS=(numpy) ;;
        *) die "unknown release '$RELEASE' (choose from: ${RELEASES[*]})" ;;
    esac
    CPU=${PI_EMU_CPU:-$CPU}
    RDIR=$CACHE/$RELEASE
}

# Pins on top of the project's extras, so every site of a backend holds the same versions
# (aarch64 and x86_64, bookworm and trixie) and CI is reproducible. Bump here; the affected
# sites rebuild on the next run. Debian packages are not pinned (the archive keeps only the
# current version); the versions unpacked are listed in <release>/sysroot/.packages.
pins() {
    case $1 in
        litert) echo "ai-edge-litert==2.3.0 numpy==2.4.6" ;;
        tflite) echo "tflite-runtime==2.14.0 numpy==1.26.4" ;;
        onnx)   echo "onnxruntime==1.32.0 numpy==2.4.6" ;;
        numpy)  echo "numpy==2.4.6" ;;
        *) die "unknown backend '$1' (choose from: ${BACKENDS[*]})" ;;
    esac
}

# The runtime's backend names (load(..., backend=NAME)) are accepted as aliases.
canonical_backend() {
    local name
    case $1 in
        litert|tflite|onnx|numpy) name=$1 ;;
        tflite_runtime|tflite-runtime) name=tflite ;;
        onnxruntime) name=onnx ;;
        *) die "unknown backend '$1' (choose from: ${BACKENDS[*]})" ;;
    esac
    [[ " ${BACKENDS[*]} " == *" $name "* ]] || \
        die "backend '$name' does not exist on $RELEASE (choose from: ${BACKENDS[*]})"
    echo "$name"
}

requirement_of() {      # backend -> what a Pi user installs
    case $1 in
        numpy) echo "imdb-edge" ;;
        *)     echo "imdb-edge[$1]" ;;
    esac
}

# Every manylinux tag up to the release's glibc: without the full list pip silently picks
# old wheels and misses e.g. tflite-runtime 2.14 (a manylinux_2_34 wheel).
platform_flags() {
    local arch=$1 v
    printf -- '--platform manylinux2014_%s ' "$arch"
    for v in 17 24 26 27 28 31 34 35 36 37 38 39 40 41; do
        (( v <= GLIBC_MAX )) && printf -- '--platform manylinux_2_%s_%s ' "$v" "$arch"
    done
    printf -- '--python-version %s --implementation cp --abi cp%s --only-binary=:all:\n' \
        "$PY" "${PY/./}"
}

# ----------------------------------------------------------------------------- helpers
log()   { [[ -n ${QUIET:-} ]] || printf '[pi-emu] %s\n' "$*" >&2; }
say()   { printf '[pi-emu] %s\n' "$*" >&2; }              # always shown: work being done
die()   { printf '[pi-emu] error: %s\n' "$*" >&2; exit 1; }
now()   { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
hash_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# A step is done when its stamp holds the same key (a hash of the step's inputs).
stamp_ok()  { [[ -f "$CACHE/stamps/$1" && "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$CACHE/stamps"; printf '%s' "$2" > "$CACHE/stamps/$1"; }

# Run a noisy command with its output in a log file; show the log's tail only on failure.
quietly() {
    local what=$1; shift
    mkdir -p "$CACHE/logs"
    local logfile="$CACHE/logs/${what//[^A-Za-z0-9._-]/-}.log"
    if ! "$@" > "$logfile" 2>&1; then
        tail -n 25 "$logfile" >&2
        die "$what failed${HINT:+ ($HINT)}; full log: $logfile"
    fi
}

HOST_PYTHON=            # set by find_host_python: runs pip, and the x86_64 reference
find_host_python() {
    [[ -z $HOST_PYTHON ]] || return 0
    local cand
    for cand in "${PI_EMU_PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" \
                "$PROJECT_ROOT/.venv/bin/python" python3.11 python3; do
        if [[ -z $cand ]] || ! command -v "$cand" >/dev/null 2>&1; then continue; fi
        if "$cand" -c 'import sys, pip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            HOST_PYTHON=$(command -v "$cand"); return 0
        fi
    done
    die "need a host Python 3.11 with pip (set PI_EMU_PYTHON)"
}

# The host's Debian mirror (one-line or deb822 sources), else deb.debian.org.
detect_mirror() {       # $1: debian | debian-security
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -v '^[[:space:]]*#' | grep -oE "https?://[^ ]+/$1/?( |$)" \
          | head -n1 | tr -d ' ') || true
    echo "${uri:-http://deb.debian.org/$1}"
}

lock_cache() {          # one builder at a time per cache dir (parallel CI jobs)
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    if command -v flock >/dev/null; then flock 9; fi
}

# ------------------------------------------------------------------ private apt states
# apt_state NAME ARCH SOURCE_LINE...: apt config, lists, cache and sources of its own and
# an empty dpkg status, so resolving and downloading never read or write the host's state.
apt_state() {
    local name=$1 arch=$2; shift 2
    local dir="$CACHE/apt/$name" key
    key=$(hash_of "$arch" "$@")
    export APT_CONFIG="$dir/apt.conf"
    if stamp_ok "apt-$name" "$key" && [[ $REFRESH == 0 ]]; then return; fi
    [[ -r $KEYRING ]] || \
        die "Debian archive keyring $KEYRING not found (apt-get install debian-archive-keyring)"
    say "apt ($name): apt-get update of a private $arch state"
    rm -rf "$dir"
    mkdir -p "$dir"/{state/lists/partial,cache/archives/partial,log} \
             "$dir"/etc/{apt.conf.d,sources.list.d,preferences.d}
    : > "$dir/state/status"
    printf '%s\n' "$@" > "$dir/etc/sources.list"
    cat > "$APT_CONFIG" <<EOF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Debug::NoLocking "true";
Dir::State "$dir/state/";
Dir::State::status "$dir/state/status";
Dir::Cache "$dir/cache/";
Dir::Etc "$dir/etc/";
Dir::Etc::sourcelist "$dir/etc/sources.list";
Dir::Etc::sourceparts "$dir/etc/sources.list.d/";
Dir::Etc::parts "$dir/etc/apt.conf.d/";
Dir::Etc::preferencesparts "$dir/etc/preferences.d/";
Dir::Log "$dir/log/";
EOF
    HINT="no network to the Debian mirror?" \
        quietly "apt-get update ($name)" apt-get update --error-on=any
    stamp_set "apt-$name" "$key"
}

# ----------------------------------------------------------------------------- steps
# 1. qemu-aarch64 and qemu-arm (static) from bookworm-backports' amd64 qemu-user.
step_qemu() {
    [[ $(uname -m) == x86_64 ]] || die "this emulates Arm on an x86_64 host, not $(uname -m)"
    local key="$QEMU_PACKAGE/$QEMU_SUITE ${QEMU_BINARIES[*]}" t0 deb binary
    if stamp_ok qemu "$key" && [[ -x $CACHE/qemu/$QEMU && $REFRESH == 0 ]]; then
        log "qemu: cached ($(cat "$CACHE/qemu/VERSION"))"; return
    fi
    apt_state host amd64 \
        "deb [signed-by=$KEYRING] ${PI_EMU_MIRROR:-$(detect_mirror debian)} $QEMU_SUITE main"
    if [[ -f $CACHE/qemu/VERSION && -x $CACHE/qemu/$QEMU ]] && \
       [[ $(apt-cache show "$QEMU_PACKAGE" | sed -n 's/^Version: //p' | head -n1) \
          == "$(cat "$CACHE/qemu/VERSION")" ]]; then
        stamp_set qemu "$key"; log "qemu: up to date"; return
    fi
    t0=$(now)
    say "qemu: downloading $QEMU_PACKAGE from $QEMU_SUITE (~63 MB; only ${QEMU_BINARIES[*]} are kept)"
    rm -rf "$CACHE/qemu.tmp" && mkdir -p "$CACHE/qemu.tmp"
    (cd "$CACHE/qemu.tmp" && HINT="no network to the Debian mirror?" \
        quietly "apt-get download $QEMU_PACKAGE" apt-get download "$QEMU_PACKAGE/$QEMU_SUITE")
    deb=$(ls "$CACHE/qemu.tmp/"*.deb)
    for binary in "${QEMU_BINARIES[@]}"; do
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$CACHE/qemu.tmp" "./usr/bin/$binary"
        mv "$CACHE/qemu.tmp/usr/bin/$binary" "$CACHE/qemu.tmp/$binary"
    done
    dpkg-deb -f "$deb" Version > "$CACHE/qemu.tmp/VERSION"
    rm -rf "$CACHE/qemu.tmp/usr" "$deb"
    rm -rf "$CACHE/qemu" && mv "$CACHE/qemu.tmp" "$CACHE/qemu"
    stamp_set qemu "$key"
    say "qemu: $(cat "$CACHE/qemu/VERSION") in $(since "$t0") s"
}

check_cpu() {
    [[ $'\n'$("$CACHE/qemu/$QEMU" -cpu help)$'\n' == *$'\n'"  $CPU"$'\n'* ]] \
        || die "qemu has no CPU model '$CPU' (see: $CACHE/qemu/$QEMU -cpu help)"
}

# 2. The release's python userland, unpacked into <release>/sysroot.
step_sysroot() {
    local mirror security key="$SUITE $DEB_ARCH ${PACKAGES[*]}" t0 sysroot=$RDIR/sysroot
    if stamp_ok "$RELEASE-sysroot" "$key" && [[ -x $sysroot/usr/bin/python$PY && $REFRESH == 0 ]]
    then
        log "sysroot $RELEASE: cached ($(grep -c . "$sysroot/.packages") $DEB_ARCH packages)"
        return
    fi
    mirror=${PI_EMU_MIRROR:-$(detect_mirror debian)}
    security=${PI_EMU_SECURITY_MIRROR:-$(detect_mirror debian-security)}
    apt_state "$RELEASE" "$DEB_ARCH" \
        "deb [signed-by=$KEYRING] $mirror $SUITE main" \
        "deb [signed-by=$KEYRING] $mirror $SUITE-updates main" \
        "deb [signed-by=$KEYRING] $security $SUITE-security main"
    # apt's resolver on an empty dpkg status gives the exact dependency closure:
    # one line per package, "'URI' FILE SIZE HASH", FILE = name_version_arch.deb.
    local -a files wanted
    mapfile -t files < <(apt-get install --print-uris -qq "${PACKAGES[@]}" | awk '{ print $2 }')
    [[ ${#files[@]} -gt 0 ]] || die "apt resolved no packages for ${PACKAGES[*]}"
    mapfile -t wanted < <(printf '%s\n' "${files[@]}" \
                          | awk -F_ '{ print $1 "=" $2 }' | sed 's/%3a/:/g')
    if [[ -x $sysroot/usr/bin/python$PY ]] && \
       [[ $(printf '%s\n' "${wanted[@]}") == "$(cat "$sysroot/.packages")" ]]; then
        stamp_set "$RELEASE-sysroot" "$key"; log "sysroot $RELEASE: up to date"; return
    fi
    t0=$(now)
    say "sysroot $RELEASE: downloading ${#files[@]} $DEB_ARCH packages (${PACKAGES[*]} + dependencies)"
    mkdir -p "$RDIR/debs"
    (cd "$RDIR/debs" && HINT="no network to the Debian mirror?" \
        quietly "apt-get download $RELEASE" apt-get download "${wanted[@]}")
    say "sysroot $RELEASE: unpacking with dpkg -x"
    rm -rf "$sysroot.tmp" && mkdir -p "$sysroot.tmp"
    local file dir lib
    for file in "${files[@]}"; do dpkg -x "$RDIR/debs/$file" "$sysroot.tmp"; done
    # What maintainer scripts would have done, as far as running Python needs it:
    # - trixie's packages live under /usr only; /lib -> usr/lib (the ELF interpreter's
    #   path) is base-files' job, which is not in the closure;
    for dir in bin sbin lib; do
        [[ -e $sysroot.tmp/$dir || ! -d $sysroot.tmp/usr/$dir ]] || ln -s "usr/$dir" "$sysroot.tmp/$dir"
    done
    # - libblas3/liblapack3 register libblas.so.3/liblapack.so.3 with update-alternatives.
    for lib in "$sysroot.tmp"/usr/lib/*/blas/libblas.so.3 "$sysroot.tmp"/usr/lib/*/lapack/liblapack.so.3; do
        [[ -e $lib && ! -e $(dirname "$lib")/../$(basename "$lib") ]] || continue
        ln -s "$(basename "$(dirname "$lib")")/$(basename "$lib")" "$(dirname "$lib")/../$(basename "$lib")"
    done
    # Documentation only: not needed to run Python.
    rm -rf "$sysroot.tmp/usr/share/"{doc,man,info,locale,lintian}
    printf '%s\n' "${wanted[@]}" > "$sysroot.tmp/.packages"
    rm -rf "$sysroot" && mv "$sysroot.tmp" "$sysroot"
    # Drop .debs that are no longer part of the resolution (e.g. after a security update).
    for file in "$RDIR"/debs/*.deb; do
        printf '%s\n' "${files[@]}" | grep -qxF "$(basename "$file")" || rm -f "$file"
    done
    stamp_set "$RELEASE-sysroot" "$key"
    say "sysroot $RELEASE: python$PY userland unpacked in $(since "$t0") s"
}

# Debian compiles a package's .py files when installing it (py3compile); dpkg -x does not.
# Where the release's Python is the host's (3.11: same bytecode magic), compile them here,
# so emulated runs neither recompile the stdlib every time nor need to write anything.
# Elsewhere (trixie's 3.13) the emulated Python writes its .pyc once, at its first run, into
# <release>/pycache (PYTHONPYCACHEPREFIX): a cache file, never the repo.
compile_tree() {        # compile_tree DIR...
    find_host_python
    env -u PYTHONPYCACHEPREFIX "$HOST_PYTHON" -m compileall -q -j 0 "$@" >/dev/null 2>&1 || true
}

HOST_PY_VERSION=
host_compiles() {
    find_host_python
    [[ -n $HOST_PY_VERSION ]] || \
        HOST_PY_VERSION=$("$HOST_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [[ $HOST_PY_VERSION == "$PY" ]]
}

step_sysroot_pyc() {
    local key
    host_compiles || return 0
    key=$(hash_of "$(cat "$RDIR/sysroot/.packages")")
    if stamp_ok "$RELEASE-sysroot-pyc" "$key"; then return; fi
    say "sysroot $RELEASE: compiling the python$PY stdlib to .pyc"
    compile_tree "$RDIR/sysroot/usr/lib/python$PY" "$RDIR/sysroot/usr/lib/python3/dist-packages"
    stamp_set "$RELEASE-sysroot-pyc" "$key"
}
# 3. The project as the wheel pip builds, unpacked into $CACHE/project/site. Built from a
#    copy of the working tree (git's tracked + unignored files), so nothing is written in
#    the repo; rebuilt when one of those files changes.
project_files() {        # NUL-separated, relative to the project root
    local file
    (cd "$PROJECT_ROOT" && git ls-files -z --cached --others --exclude-standard \
        | grep -zvE '^(tests|docs|scripts|benchmarks|\.ci)/' \
        | while IFS= read -r -d '' file; do [[ -f $file ]] && printf '%s\0' "$file"; done)
}

step_project() {
    local key t0 whl
    key=$(project_files | (cd "$PROJECT_ROOT" && xargs -0 sha256sum) | sha256sum | cut -c1-16)
    if stamp_ok project "$key" && compgen -G "$CACHE/project/*.whl" >/dev/null; then
        log "project: cached ($(basename "$(project_wheel)"))"; return
    fi
    t0=$(now)
    find_host_python
    say "project: building the imdb-edge wheel from a copy of the working tree"
    rm -rf "$CACHE/project.tmp" && mkdir -p "$CACHE/project.tmp/src"
    project_files | (cd "$PROJECT_ROOT" && tar -c -f - --null -T -) \
        | tar -x -C "$CACHE/project.tmp/src"
    local -a isolation=(--no-build-isolation)
    "$HOST_PYTHON" -c "import setuptools, wheel" 2>/dev/null || isolation=()
    quietly "pip wheel (project)" "$HOST_PYTHON" -m pip wheel --no-deps "${isolation[@]}" \
        -w "$CACHE/project.tmp" "$CACHE/project.tmp/src"
    whl=$(ls "$CACHE/project.tmp/"*.whl)
    "$HOST_PYTHON" -m zipfile -e "$whl" "$CACHE/project.tmp/site"
    compile_tree "$CACHE/project.tmp/site"
    rm -rf "$CACHE/project.tmp/src" "$CACHE/project"
    mv "$CACHE/project.tmp" "$CACHE/project"
    stamp_set project "$key"
    say "project: $(basename "$whl") in $(since "$t0") s"
}

project_wheel() { ls "$CACHE/project/"*.whl; }

# 4. One site dir per (arch, backend): the extra's dependencies, resolved by pip for
#    manylinux cp3XX on that arch, wheels only, installed with --target (nothing runs).
#    The project itself is left out (it comes from $CACHE/project/site), so code edits
#    don't rebuild sites; a change to the project's declared dependencies does.
step_site() {
    local arch=$1 backend=$2 whl req key t0 dir="$RDIR/site/$1/$2"
    whl=$(project_wheel)
    req=$(requirement_of "$backend")
    if [[ $arch == armv7l ]]; then step_debian_numpy_site "$dir"; return; fi
    key=$(hash_of "$(grep -a '^Requires-Dist' "$CACHE/project/site/"*.dist-info/METADATA)" \
                  "$req" "$(pins "$backend")" "$(platform_flags "$arch")")
    if stamp_ok "$RELEASE-site-$arch-$backend" "$key" && [[ -d $dir ]]; then
        log "site $RELEASE $arch/$backend: cached ($(cat "$dir/.versions"))"; return
    fi
    t0=$(now)
    find_host_python
    say "site $RELEASE $arch/$backend: resolving $req for $arch cp${PY/./} with pins: $(pins "$backend")"
    local wheels="$RDIR/wheels/$arch"
    mkdir -p "$wheels"
    local pinfile="$wheels/pins-$backend.txt"
    pins "$backend" | tr ' ' '\n' > "$pinfile"
    # shellcheck disable=SC2046  # platform_flags is a word list on purpose
    HINT="no network to PyPI?" quietly "pip download $RELEASE-$arch-$backend" \
        "$HOST_PYTHON" -m pip download -d "$wheels" \
        $(platform_flags "$arch") -c "$pinfile" "$req @ file://$whl"
    rm -f "$wheels"/imdb_edge-*.whl     # pip download copies the project's wheel too
    rm -rf "$dir.tmp"
    local -a compile=()
    host_compiles || compile=(--no-compile)     # the host's .pyc would not fit
    # shellcheck disable=SC2046
    quietly "pip install $RELEASE-$arch-$backend" "$HOST_PYTHON" -m pip install --no-index \
        "${compile[@]}" --find-links "$wheels" --target "$dir.tmp" \
        $(platform_flags "$arch") -c "$pinfile" "$req @ file://$whl"
    rm -rf "$dir.tmp"/imdb_edge "$dir.tmp"/imdb_edge-*.dist-info "$dir.tmp/bin"
    "$HOST_PYTHON" -c 'import importlib.metadata as m, sys
print(" ".join(sorted(f"{d.name}=={d.version}" for d in m.distributions(path=[sys.argv[1]]))))' \
        "$dir.tmp" > "$dir.tmp/.versions"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    stamp_set "$RELEASE-site-$arch-$backend" "$key"
    SITES_CHANGED=1
    say "site $RELEASE $arch/$backend: $(cat "$dir/.versions") in $(since "$t0") s"
}

# bookworm-armhf: PyPI has no armv7 numpy wheel; a 32-bit Pi uses Debian's python3-numpy
# (in the sysroot's /usr/lib/python3/dist-packages, on sys.path as on the device). The site
# stays empty; what is checked here is what pip would check on the device: that Debian's
# numpy satisfies the project's declared requirement, so `pip install imdb-edge` in a
# `--system-site-packages` venv keeps it and downloads nothing.
step_debian_numpy_site() {
    local dir=$1 info version
    info=$(ls -d "$RDIR"/sysroot/usr/lib/python3/dist-packages/numpy-*-info 2>/dev/null | head -n1) \
        || true
    [[ -n $info ]] || die "sysroot $RELEASE has no Debian numpy (python3-numpy)"
    version=$(cat "$info/METADATA" "$info/PKG-INFO" 2>/dev/null | sed -n 's/^Version: //p' \
              | head -n1) || true
    find_host_python
    "$HOST_PYTHON" - "$version" "$CACHE/project/site/"*.dist-info/METADATA <<'PYEOF' \
        || die "Debian's numpy $version does not satisfy the project's numpy requirement"
import sys
from email.parser import Parser
from pip._vendor.packaging.requirements import Requirement
version, metadata = sys.argv[1], sys.argv[2]
reqs = [Requirement(r) for r in Parser().parse(open(metadata)).get_all("Requires-Dist") or []]
numpy = [r for r in reqs if r.name == "numpy" and not r.marker]
sys.exit(0 if numpy and all(r.specifier.contains(version) for r in numpy) else 1)
PYEOF
    # The project's other requirement is pure Python: pip takes it from PyPI on the device.
    mkdir -p "$dir"
    "$HOST_PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$dir" "threadpoolctl==3.8.0" || die "cannot fetch threadpoolctl for $RELEASE"
    echo "numpy==$version (Debian python3-numpy) threadpoolctl==3.8.0" > "$dir/.versions"
}

# Sites repeat files (numpy 2 sits in several of them): hard-link identical files.
dedupe_sites() {
    if command -v hardlink >/dev/null; then
        hardlink -q -c "$CACHE"/*/site || true
    fi
}

SITES_CHANGED=0
build() {               # build ARCH BACKEND...   (ARCH: $GUEST | x86_64 | all)
    local arch=$1 backend; shift
    lock_cache
    if [[ $arch == "$GUEST" || $arch == all ]]; then
        step_qemu; check_cpu; step_sysroot; step_sysroot_pyc
    fi
    step_project
    for backend in "$@"; do
        if [[ $arch == "$GUEST" || $arch == all ]]; then step_site "$GUEST" "$backend"; fi
        if [[ $X86 == 1 && ( $arch == x86_64 || $arch == all ) ]]; then
            step_site x86_64 "$backend"
        fi
    done
    [[ $SITES_CHANGED == 0 ]] || dedupe_sites
    exec 9>&-
}

check_arch() {          # check_arch ARCH [all]
    [[ $1 == "$GUEST" || ( $1 == x86_64 && $X86 == 1 ) || ( $1 == all && ${2:-} == all ) ]] \
        && return
    if [[ $1 == x86_64 ]]; then
        die "$RELEASE has no x86_64 reference (that needs a host Python $PY); bookworm has"
    fi
    die "--arch for $RELEASE must be $GUEST$([[ $X86 == 1 ]] && echo " or x86_64")${2:+ or all}"
}

# ----------------------------------------------------------------------------- commands
cmd_build() {
    local arch=all t0 backend
    local -a backends=() names=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --release) set_release "$2"; shift 2 ;;
            --backend) names+=("$2"); shift 2 ;;
            --arch)    arch=$2; shift 2 ;;
            --refresh) REFRESH=1; shift ;;
            *) die "build: unknown option '$1'" ;;
        esac
    done
    check_arch "$arch" all
    for backend in "${names[@]}"; do backends+=("$(canonical_backend "$backend")"); done
    [[ ${#backends[@]} -gt 0 ]] || backends=("${BACKENDS[@]}")
    # --refresh also lets pip re-resolve the sites' unpinned dependencies.
    if [[ $REFRESH == 1 ]]; then rm -f "$CACHE/stamps/$RELEASE-site-"*; fi
    t0=$(now)
    build "$arch" "${backends[@]}"
    say "build $RELEASE: ready in $(since "$t0") s"
    cmd_info
}

cmd_run() {
    local backend=numpy arch="" t0 rc=0 where
    while [[ $# -gt 0 ]]; do
        case $1 in
            --release) set_release "$2"; shift 2 ;;
            --backend) backend=$2; shift 2 ;;
            --arch)    arch=$2; shift 2 ;;
            --) shift; break ;;
            *) break ;;
        esac
    done
    arch=${arch:-$GUEST}
    check_arch "$arch"
    backend=$(canonical_backend "$backend")
    QUIET=${PI_EMU_QUIET:-1} build "$arch" "$backend"     # cached steps say nothing
    local -a env=(env -u PYTHONHOME -u PYTHONSTARTUP -u VIRTUAL_ENV -u PYTHONPYCACHEPREFIX)
    # The host's LD_PRELOAD / LD_LIBRARY_PATH name x86_64 libraries: not for the guest.
    [[ $arch == x86_64 ]] || env+=(-u LD_PRELOAD -u LD_LIBRARY_PATH)
    env+=(
        PYTHONPATH="$RDIR/site/$arch/$backend:$CACHE/project/site"
        PYTHONNOUSERSITE=1
        PYTHONSAFEPATH=1      # no cwd on sys.path: the repo's imdb_edge/ would shadow the wheel
    )
    if [[ $arch == x86_64 ]] || host_compiles; then
        # Everything imported was compiled at build time; write no .pyc (none in the repo).
        env+=(PYTHONDONTWRITEBYTECODE=1)
    else
        env+=(PYTHONPYCACHEPREFIX="$RDIR/pycache")
    fi
    t0=$(now)
    if [[ $arch != x86_64 ]]; then
        where="emulated $CPU"
        "${env[@]}" "$CACHE/qemu/$QEMU" -cpu "$CPU" -L "$RDIR/sysroot" \
            "$RDIR/sysroot/usr/bin/python$PY" "$@" || rc=$?
    else
        where="native"
        find_host_python
        # -S: the host Python's own site-packages stay off the path.
        "${env[@]}" "$HOST_PYTHON" -S "$@" || rc=$?
    fi
    QUIET=${PI_EMU_QUIET:-} log "run $RELEASE $arch/$backend ($where): exit $rc after $(since "$t0") s"
    return "$rc"
}

cmd_info() {
    local d
    while [[ $# -gt 0 ]]; do
        case $1 in
            --release) set_release "$2"; shift 2 ;;
            *) die "info: unknown option '$1'" ;;
        esac
    done
    [[ -d $RDIR ]] || { say "nothing built yet for $RELEASE ($RDIR)"; return; }
    echo "cache: $CACHE"
    echo "release: $RELEASE (Debian $SUITE $DEB_ARCH, python$PY)"
    [[ -f $CACHE/qemu/VERSION ]] && echo "$QEMU: $(cat "$CACHE/qemu/VERSION"), -cpu $CPU"
    [[ -f $RDIR/sysroot/.packages ]] && echo "sysroot: $(grep "^python$PY-minimal=" \
        "$RDIR/sysroot/.packages"), $(grep -c . "$RDIR/sysroot/.packages") $DEB_ARCH packages"
    for d in "$RDIR"/site/*/*/; do
        [[ -f $d/.versions ]] && \
            echo "site $(basename "$(dirname "$d")")/$(basename "$d"): $(cat "$d/.versions")"
    done
    echo "disk used:"
    for d in qemu project "$RELEASE"/sysroot "$RELEASE"/debs "$RELEASE"/wheels "$RELEASE"/site \
             "$RELEASE"/pycache; do
        [[ -e $CACHE/$d ]] && printf '  %-24s %s\n' "$d" "$(du -sh "$CACHE/$d" | cut -f1)"
    done
    printf '  %-24s %s\n' total "$(du -sh "$CACHE" | cut -f1)"
}

cmd_clean() { say "removing $CACHE"; rm -rf "$CACHE"; }

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    set_release "${PI_EMU_RELEASE:-bookworm}"
    case $cmd in
        build) cmd_build "$@" ;;
        run)   cmd_run "$@" ;;
        info)  cmd_info "$@" ;;
        clean) cmd_clean ;;
        help|-h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
        *) die "unknown command '$cmd' (build | run | info | clean)" ;;
    esac
}

main "$@"
