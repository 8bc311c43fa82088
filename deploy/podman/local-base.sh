#!/usr/bin/env bash
# Makes podman usable offline on a Debian machine (run as root) and builds the local base image the
# image and the container test use: localhost/stalkd-base:node = Debian bookworm (minbase, made with
# debootstrap: no registry needed) + this machine's `node` binary + an unprivileged user node (1000).
# Idempotent: what exists is kept (pass --rebuild to rebuild the image). Prints the image name.
set -euo pipefail
IMAGE=localhost/stalkd-base:node
MINBASE=localhost/debian-minbase:bookworm
CACHE=${STALKD_BASE_CACHE:-/var/cache/stalkd-base}

missing=()
for p in podman runc podman-compose debootstrap golang-github-containernetworking-plugin-dnsname; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# crun refuses cgroups on some VMs and podman's default ulimits can exceed the machine's hard limits:
# runc, cgroupfs and modest ulimits (lowered to the hard limits of this shell when those are lower).
conf=/etc/containers/containers.conf
if ! grep -q 'runtime = "runc"' "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  nofile=1024; nproc=4096
  hn=$(ulimit -Hn); hu=$(ulimit -Hu)
  [ "$hn" != unlimited ] && [ "$hn" -lt "$nofile" ] && nofile=$hn
  [ "$hu" != unlimited ] && [ "$hu" -lt "$nproc" ] && nproc=$hu
  cat > "$conf" <<CONF
# stalkd local-base (deploy/podman/local-base.sh)
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
fi

if [ "${1:-}" = "--rebuild" ] || ! podman image exists "$IMAGE"; then
  mkdir -p "$CACHE"
  if ! podman image exists "$MINBASE"; then
    [ -x "$CACHE/rootfs/bin/sh" ] || debootstrap --variant=minbase bookworm "$CACHE/rootfs" >"$CACHE/debootstrap.log" 2>&1
    tar -C "$CACHE/rootfs" -c . | podman import - "$MINBASE" >/dev/null
  fi
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$(readlink -f "$(command -v node)")" "$ctx/node"
  printf '%s\n' "FROM $MINBASE" 'COPY node /usr/local/bin/node' \
    'RUN groupadd -g 1000 node && useradd -u 1000 -g 1000 -m node' > "$ctx/Containerfile"
  podman build --pull=never -q -t "$IMAGE" "$ctx" >/dev/null
fi
echo "$IMAGE"
