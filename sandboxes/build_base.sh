#!/usr/bin/env bash
# Build the base rootfs image for agentbench sandboxes without any registry:
#   debootstrap --variant=minbase bookworm -> tarball (cached) -> `docker import` as the given tag.
#
# Usage: [DEBIAN_SUITE=bookworm] sandboxes/build_base.sh TAG     e.g. agentbench/rootfs:0123456789ab
#
# The tarball is cached at ${AGENTBENCH_CACHE:-<repo>/.cache}/rootfs/bookworm-minbase.tar together with
# a stamp (the sha256 of this script); a rebuild with an unchanged script skips debootstrap. If TAG
# already exists in the engine the script does nothing. Needs root (debootstrap) unless the tarball is
# cached, the `docker` CLI, and http access to the Debian mirror (MIRROR, default deb.debian.org).
set -euo pipefail

die() { echo "build_base.sh: error: $*" >&2; exit 1; }
log() { echo "build_base.sh: $*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 TAG   (e.g. agentbench/rootfs:<hash>, as agentbench.sandbox.images names it)"
TAG="$1"

SUITE="${DEBIAN_SUITE:-bookworm}"   # bullseye (python 3.9), bookworm (3.11), trixie (3.13)
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
CACHE="${AGENTBENCH_CACHE:-$REPO/.cache}"
CACHE_DIR="$CACHE/rootfs"
TARBALL="$CACHE_DIR/$SUITE-minbase.tar"
STAMP="$TARBALL.stamp"
SCRIPT_HASH="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"

command -v docker >/dev/null || die "the docker CLI is not installed (apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (run sandboxes/ensure_engine.sh, or set DOCKER_HOST)"

if docker image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG already exists; nothing to do"
    exit 0
fi

WORK=""
CHILD=""
cleanup() {
    local rc=$?
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        log "stopping debootstrap (pid $CHILD)"
        kill -TERM -- "-$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        # debootstrap mounts /proc and /sys inside the target; never rm -rf across a live mount
        if [[ -d "$WORK/rootfs" ]]; then
            awk -v p="$WORK/rootfs" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null || true
            done
        fi
        rm -rf --one-file-system "$WORK" || log "warning: could not remove $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE_DIR"

if [[ -s "$TARBALL" && -f "$STAMP" && "$(cat "$STAMP")" == "$SCRIPT_HASH" ]]; then
    log "using cached rootfs tarball $TARBALL"
else
    [[ "$(id -u)" -eq 0 ]] || die "debootstrap needs root (run as root, or provide a cached $TARBALL)"
    if ! command -v debootstrap >/dev/null; then
        log "installing Debian's debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
    WORK="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
    ROOTFS="$WORK/rootfs"
    log "debootstrap --variant=minbase $SUITE from $MIRROR into $ROOTFS (a few minutes)"
    # own process group, waited on in the background so that INT/TERM reach the trap at once
    setsid debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1 </dev/null &
    CHILD=$!
    if ! wait "$CHILD"; then
        CHILD=""
        tail -n 40 "$WORK/debootstrap.log" >&2 || true
        [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    fi
    CHILD=""

    # Container-friendly tweaks (as in moby's contrib/mkimage): no services started by dpkg, no docs or
    # man pages, no recommends, no apt caches left in layers, the security and updates suites.
    cat >"$ROOTFS/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
    chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
    cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/agentbench-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    cat >"$ROOTFS/etc/apt/apt.conf.d/agentbench" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    MIRROR_BASE="${MIRROR%/debian}"
    cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $MIRROR_BASE/debian-security $SUITE-security main
EOF
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
           "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/* \
           "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
    find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    : >"$ROOTFS/etc/hostname"
    rm -f "$ROOTFS/etc/resolv.conf"   # the engine provides one per container

    log "packing $TARBALL"
    tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
    mv -f "$WORK/rootfs.tar" "$TARBALL"
    echo "$SCRIPT_HASH" >"$STAMP"
fi

log "docker import -> $TAG"
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL agentbench.recipe=rootfs' \
    --change "LABEL agentbench.suite=$SUITE" \
    --change 'CMD ["/bin/bash"]' \
    --message "agentbench rootfs: debootstrap --variant=minbase $SUITE" \
    "$TARBALL" "$TAG" >/dev/null
log "built $TAG"
