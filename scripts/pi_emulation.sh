#!/usr/bin/env bash
# Emulated Raspberry Pi for imdb-edge. Raspberry Pi OS bookworm 64-bit is Debian 12 on
# aarch64 with Python 3.11, so we build that userland on an x86_64 host and run it under
# qemu user-mode emulation. Nothing Arm runs at build time and the host's dpkg/apt state is
# never touched: apt works from a private state in the cache dir (APT_CONFIG), .debs are
# unpacked with `dpkg -x`, wheels are fetched with `pip download --platform`.
#
#   scripts/pi_emulation.sh build [--backend B]... [--arch aarch64|x86_64|all] [--refresh]
#   scripts/pi_emulation.sh run [--backend B] [--arch A] [--] PYTHON_ARGS...
#   scripts/pi_emulation.sh info                 versions and disk used
#   scripts/pi_emulation.sh clean                delete the cache
#
#   e.g. scripts/pi_emulation.sh run --backend litert -- -c "import platform; print(platform.machine())"
#
# Backends, one site dir each, resolved from the project's own extras plus the pins below,
# so a site holds what `pip install "imdb-edge[EXTRA]"` puts on a Pi:
#   litert -> imdb-edge[litert]   ai-edge-litert, numpy 2
#   tflite -> imdb-edge[tflite]   tflite-runtime 2.14, numpy<2
#   onnx   -> imdb-edge[onnx]     onnxruntime, numpy 2
#   numpy  -> imdb-edge           numpy only (the default for run)
# The runtime's names (load(backend=...)) tflite_runtime and onnxruntime are accepted too.
# --arch aarch64 (default for run) is emulated; --arch x86_64 runs the same pinned wheels
# natively on the host's Python 3.11 (with -S: no host site-packages), the parity reference.
# `run` builds what it needs first; every step is cached and stamped under the cache dir.
#
# Environment:
#   IMDB_EDGE_CACHE   cache root (default ~/.cache/imdb-edge); this tool uses <root>/pi-emulation
#   PI_EMU_CPU        emulated CPU (default cortex-a72 = Raspberry Pi 4; cortex-a76 = Pi 5)
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
CPU=${PI_EMU_CPU:-cortex-a72}
KEYRING=${PI_EMU_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
REFRESH=0                           # build --refresh: apt-get update and re-resolve

SUITE=bookworm                      # Raspberry Pi OS bookworm = Debian 12
PY=3.11                             # bookworm's python3
# The arm64 packages to unpack; apt resolves their Depends/Pre-Depends closure (~38 .debs).
ARM64_PACKAGES=(python3.11-minimal libpython3.11-stdlib libstdc++6)
# qemu 7.2 (bookworm) crashes ai-edge-litert and onnxruntime in their CPU detection;
# qemu 10 from bookworm-backports runs them. Its binaries are static: we keep qemu-aarch64.
QEMU_SUITE=bookworm-backports
QEMU_PACKAGE=qemu-user

BACKENDS=(litert tflite onnx numpy)

# Pins on top of the project's extras, so the aarch64 and x86_64 sites hold the same
# versions and CI is reproducible. Bump here; the affected sites rebuild on the next run.
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
    case $1 in
        litert|tflite|onnx|numpy) echo "$1" ;;
        tflite_runtime|tflite-runtime) echo tflite ;;
        onnxruntime) echo onnx ;;
        *) die "unknown backend '$1' (choose from: ${BACKENDS[*]})" ;;
    esac
}

requirement_of() {      # backend -> what a Pi user installs
    case $1 in
        numpy) echo "imdb-edge" ;;
        *)     echo "imdb-edge[$1]" ;;
    esac
}

# Every manylinux tag up to glibc 2.36 (bookworm): without the full list pip silently
# picks old wheels and misses e.g. tflite-runtime 2.14 (a manylinux_2_34 wheel).
platform_flags() {
    local arch=$1 v
    printf -- '--platform manylinux2014_%s ' "$arch"
    for v in 17 24 26 27 28 31 34 35 36; do
        printf -- '--platform manylinux_2_%s_%s ' "$v" "$arch"
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
# 1. qemu-aarch64 (static) from bookworm-backports' amd64 qemu-user.
step_qemu() {
    [[ $(uname -m) == x86_64 ]] || die "this emulates aarch64 on an x86_64 host, not $(uname -m)"
    local key="$QEMU_PACKAGE/$QEMU_SUITE" t0 deb
    if stamp_ok qemu "$key" && [[ -x $CACHE/qemu/qemu-aarch64 && $REFRESH == 0 ]]; then
        log "qemu: cached ($(cat "$CACHE/qemu/VERSION"))"; return
    fi
    apt_state host amd64 \
        "deb [signed-by=$KEYRING] ${PI_EMU_MIRROR:-$(detect_mirror debian)} $QEMU_SUITE main"
    if [[ -f $CACHE/qemu/VERSION ]] && \
       [[ $(apt-cache show "$QEMU_PACKAGE" | sed -n 's/^Version: //p' | head -n1) \
          == "$(cat "$CACHE/qemu/VERSION")" ]]; then
        stamp_set qemu "$key"; log "qemu: up to date"; return
    fi
    t0=$(now)
    say "qemu: downloading $QEMU_PACKAGE from $QEMU_SUITE (~63 MB; only qemu-aarch64 is kept)"
    rm -rf "$CACHE/qemu.tmp" && mkdir -p "$CACHE/qemu.tmp"
    (cd "$CACHE/qemu.tmp" && HINT="no network to the Debian mirror?" \
        quietly "apt-get download $QEMU_PACKAGE" apt-get download "$QEMU_PACKAGE/$QEMU_SUITE")
    deb=$(ls "$CACHE/qemu.tmp/"*.deb)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$CACHE/qemu.tmp" ./usr/bin/qemu-aarch64
    mv "$CACHE/qemu.tmp/usr/bin/qemu-aarch64" "$CACHE/qemu.tmp/qemu-aarch64"
    dpkg-deb -f "$deb" Version > "$CACHE/qemu.tmp/VERSION"
    rm -rf "$CACHE/qemu.tmp/usr" "$deb"
    rm -rf "$CACHE/qemu" && mv "$CACHE/qemu.tmp" "$CACHE/qemu"
    stamp_set qemu "$key"
    say "qemu: $(cat "$CACHE/qemu/VERSION") in $(since "$t0") s"
}

check_cpu() {
    [[ $'\n'$("$CACHE/qemu/qemu-aarch64" -cpu help)$'\n' == *$'\n'"  $CPU"$'\n'* ]] \
        || die "qemu has no CPU model '$CPU' (see: $CACHE/qemu/qemu-aarch64 -cpu help)"
}

# 2. The arm64 python3.11 userland, unpacked into $CACHE/sysroot.
step_sysroot() {
    local mirror security key="${ARM64_PACKAGES[*]}" t0
    if stamp_ok sysroot "$key" && [[ -x $CACHE/sysroot/usr/bin/python$PY && $REFRESH == 0 ]]; then
        log "sysroot: cached ($(grep -c . "$CACHE/sysroot/.packages") arm64 packages)"; return
    fi
    mirror=${PI_EMU_MIRROR:-$(detect_mirror debian)}
    security=${PI_EMU_SECURITY_MIRROR:-$(detect_mirror debian-security)}
    apt_state arm64 arm64 \
        "deb [signed-by=$KEYRING] $mirror $SUITE main" \
        "deb [signed-by=$KEYRING] $mirror $SUITE-updates main" \
        "deb [signed-by=$KEYRING] $security $SUITE-security main"
    # apt's resolver on an empty dpkg status gives the exact dependency closure:
    # one line per package, "'URI' FILE SIZE HASH", FILE = name_version_arch.deb.
    local -a files wanted
    mapfile -t files < <(apt-get install --print-uris -qq "${ARM64_PACKAGES[@]}" \
                         | awk '{ print $2 }')
    [[ ${#files[@]} -gt 0 ]] || die "apt resolved no packages for ${ARM64_PACKAGES[*]}"
    mapfile -t wanted < <(printf '%s\n' "${files[@]}" \
                          | awk -F_ '{ print $1 "=" $2 }' | sed 's/%3a/:/g')
    if [[ -x $CACHE/sysroot/usr/bin/python$PY ]] && \
       [[ $(printf '%s\n' "${wanted[@]}") == "$(cat "$CACHE/sysroot/.packages")" ]]; then
        stamp_set sysroot "$key"; log "sysroot: up to date"; return
    fi
    t0=$(now)
    say "sysroot: downloading ${#files[@]} arm64 packages (${ARM64_PACKAGES[*]} + dependencies)"
    mkdir -p "$CACHE/debs"
    (cd "$CACHE/debs" && HINT="no network to the Debian mirror?" \
        quietly "apt-get download arm64" apt-get download "${wanted[@]}")
    say "sysroot: unpacking with dpkg -x"
    rm -rf "$CACHE/sysroot.tmp" && mkdir -p "$CACHE/sysroot.tmp"
    local file
    for file in "${files[@]}"; do dpkg -x "$CACHE/debs/$file" "$CACHE/sysroot.tmp"; done
    # Documentation only: not needed to run Python.
    rm -rf "$CACHE/sysroot.tmp/usr/share/"{doc,man,info,locale,lintian}
    printf '%s\n' "${wanted[@]}" > "$CACHE/sysroot.tmp/.packages"
    rm -rf "$CACHE/sysroot" && mv "$CACHE/sysroot.tmp" "$CACHE/sysroot"
    # Drop .debs that are no longer part of the resolution (e.g. after a security update).
    for file in "$CACHE"/debs/*.deb; do
        printf '%s\n' "${files[@]}" | grep -qxF "$(basename "$file")" || rm -f "$file"
    done
    stamp_set sysroot "$key"
    say "sysroot: python$PY userland unpacked in $(since "$t0") s"
}

# Debian compiles a package's .py files when installing it (py3compile); dpkg -x does not.
# Compile them here with the host's CPython 3.11 (same bytecode magic as bookworm's 3.11.2),
# so emulated runs neither recompile the stdlib every time nor need to write anything.
compile_tree() {        # compile_tree DIR...
    find_host_python
    env -u PYTHONPYCACHEPREFIX "$HOST_PYTHON" -m compileall -q -j 0 "$@" >/dev/null 2>&1 || true
}

step_sysroot_pyc() {
    local key
    key=$(hash_of "$(cat "$CACHE/sysroot/.packages")")
    if stamp_ok sysroot-pyc "$key"; then return; fi
    say "sysroot: compiling the python$PY stdlib to .pyc"
    compile_tree "$CACHE/sysroot/usr/lib/python$PY"
    stamp_set sysroot-pyc "$key"
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
#    manylinux cp311 on that arch, wheels only, installed with --target (nothing runs).
#    The project itself is left out (it comes from $CACHE/project/site), so code edits
#    don't rebuild sites; a change to the project's declared dependencies does.
step_site() {
    local arch=$1 backend=$2 whl req key t0 dir="$CACHE/site/$1/$2"
    whl=$(project_wheel)
    req=$(requirement_of "$backend")
    key=$(hash_of "$(grep -a '^Requires-Dist' "$CACHE/project/site/"*.dist-info/METADATA)" \
                  "$req" "$(pins "$backend")" "$(platform_flags "$arch")")
    if stamp_ok "site-$arch-$backend" "$key" && [[ -d $dir ]]; then
        log "site $arch/$backend: cached ($(cat "$dir/.versions"))"; return
    fi
    t0=$(now)
    find_host_python
    say "site $arch/$backend: resolving $req for $arch with pins: $(pins "$backend")"
    mkdir -p "$CACHE/wheels/$arch"
    local pinfile="$CACHE/wheels/$arch/pins-$backend.txt"
    pins "$backend" | tr ' ' '\n' > "$pinfile"
    # shellcheck disable=SC2046  # platform_flags is a word list on purpose
    HINT="no network to PyPI?" quietly "pip download $arch-$backend" \
        "$HOST_PYTHON" -m pip download -d "$CACHE/wheels/$arch" \
        $(platform_flags "$arch") -c "$pinfile" "$req @ file://$whl"
    rm -f "$CACHE/wheels/$arch"/imdb_edge-*.whl     # pip download copies the project's wheel too
    rm -rf "$dir.tmp"
    # shellcheck disable=SC2046
    quietly "pip install $arch-$backend" "$HOST_PYTHON" -m pip install --no-index \
        --find-links "$CACHE/wheels/$arch" --target "$dir.tmp" \
        $(platform_flags "$arch") -c "$pinfile" "$req @ file://$whl"
    rm -rf "$dir.tmp"/imdb_edge "$dir.tmp"/imdb_edge-*.dist-info "$dir.tmp/bin"
    "$HOST_PYTHON" -c 'import importlib.metadata as m, sys
print(" ".join(sorted(f"{d.name}=={d.version}" for d in m.distributions(path=[sys.argv[1]]))))' \
        "$dir.tmp" > "$dir.tmp/.versions"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    stamp_set "site-$arch-$backend" "$key"
    SITES_CHANGED=1
    say "site $arch/$backend: $(cat "$dir/.versions") in $(since "$t0") s"
}

# Sites repeat files (numpy 2 sits in three of them): hard-link identical files.
dedupe_sites() {
    if command -v hardlink >/dev/null; then
        hardlink -q -c "$CACHE/site" || true
    fi
}

SITES_CHANGED=0
build() {               # build ARCH BACKEND...   (ARCH: aarch64 | x86_64 | all)
    local arch=$1 backend; shift
    lock_cache
    if [[ $arch == aarch64 || $arch == all ]]; then
        step_qemu; check_cpu; step_sysroot; step_sysroot_pyc
    fi
    step_project
    for backend in "$@"; do
        if [[ $arch == aarch64 || $arch == all ]]; then step_site aarch64 "$backend"; fi
        if [[ $arch == x86_64 || $arch == all ]]; then step_site x86_64 "$backend"; fi
    done
    [[ $SITES_CHANGED == 0 ]] || dedupe_sites
    exec 9>&-
}

# ----------------------------------------------------------------------------- commands
cmd_build() {
    local arch=all t0 backend
    local -a backends=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --backend) backends+=("$(canonical_backend "$2")"); shift 2 ;;
            --arch)    arch=$2; shift 2 ;;
            --refresh) REFRESH=1; shift ;;
            *) die "build: unknown option '$1'" ;;
        esac
    done
    [[ ${#backends[@]} -gt 0 ]] || backends=("${BACKENDS[@]}")
    # --refresh also lets pip re-resolve the sites' unpinned dependencies.
    if [[ $REFRESH == 1 ]]; then rm -f "$CACHE"/stamps/site-*; fi
    t0=$(now)
    build "$arch" "${backends[@]}"
    say "build: ready in $(since "$t0") s"
    cmd_info
}

cmd_run() {
    local backend=numpy arch=aarch64 t0 rc=0 where
    while [[ $# -gt 0 ]]; do
        case $1 in
            --backend) backend=$(canonical_backend "$2"); shift 2 ;;
            --arch)    arch=$2; shift 2 ;;
            --) shift; break ;;
            *) break ;;
        esac
    done
    [[ $arch == aarch64 || $arch == x86_64 ]] || die "run: --arch must be aarch64 or x86_64"
    QUIET=${PI_EMU_QUIET:-1} build "$arch" "$backend"     # cached steps say nothing
    local -a env=(env -u PYTHONHOME -u PYTHONSTARTUP -u VIRTUAL_ENV -u PYTHONPYCACHEPREFIX)
    # The host's LD_PRELOAD / LD_LIBRARY_PATH name x86_64 libraries: not for the guest.
    [[ $arch == x86_64 ]] || env+=(-u LD_PRELOAD -u LD_LIBRARY_PATH)
    env+=(
        PYTHONPATH="$CACHE/site/$arch/$backend:$CACHE/project/site"
        PYTHONNOUSERSITE=1
        PYTHONSAFEPATH=1      # no cwd on sys.path: the repo's imdb_edge/ would shadow the wheel
        # Everything imported was compiled at build time; write no .pyc (none in the repo).
        PYTHONDONTWRITEBYTECODE=1
    )
    t0=$(now)
    if [[ $arch == aarch64 ]]; then
        where="emulated $CPU"
        "${env[@]}" "$CACHE/qemu/qemu-aarch64" -cpu "$CPU" -L "$CACHE/sysroot" \
            "$CACHE/sysroot/usr/bin/python$PY" "$@" || rc=$?
    else
        where="native"
        find_host_python
        # -S: the host Python's own site-packages stay off the path.
        "${env[@]}" "$HOST_PYTHON" -S "$@" || rc=$?
    fi
    QUIET=${PI_EMU_QUIET:-} log "run $arch/$backend ($where): exit $rc after $(since "$t0") s"
    return "$rc"
}

cmd_info() {
    local d
    [[ -d $CACHE ]] || { say "nothing built yet ($CACHE)"; return; }
    echo "cache: $CACHE"
    [[ -f $CACHE/qemu/VERSION ]] && echo "qemu-aarch64: $(cat "$CACHE/qemu/VERSION"), -cpu $CPU"
    [[ -f $CACHE/sysroot/.packages ]] && echo "sysroot: $(grep '^python3.11-minimal=' \
        "$CACHE/sysroot/.packages"), $(grep -c . "$CACHE/sysroot/.packages") arm64 packages"
    for d in "$CACHE"/site/*/*/; do
        [[ -f $d/.versions ]] && \
            echo "site $(basename "$(dirname "$d")")/$(basename "$d"): $(cat "$d/.versions")"
    done
    echo "disk used:"
    for d in qemu sysroot debs apt wheels/aarch64 wheels/x86_64 site/aarch64 site/x86_64 project; do
        [[ -e $CACHE/$d ]] && printf '  %-15s %s\n' "$d" "$(du -sh "$CACHE/$d" | cut -f1)"
    done
    printf '  %-15s %s\n' total "$(du -sh "$CACHE" | cut -f1)"
}

cmd_clean() { say "removing $CACHE"; rm -rf "$CACHE"; }

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        build) cmd_build "$@" ;;
        run)   cmd_run "$@" ;;
        info)  cmd_info ;;
        clean) cmd_clean ;;
        help|-h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
        *) die "unknown command '$cmd' (build | run | info | clean)" ;;
    esac
}

main "$@"
