#!/usr/bin/env bash
# Make local stand-ins for the Dockerfile's base images on a Debian machine that cannot reach a container
# registry (Docker Hub) but can reach a Debian mirror: debootstrap a minimal bookworm with Debian's python3
# (3.11, as in python:3.11-slim-bookworm) and one with Debian's nodejs and npm (18; npm warns that
# web/package.json asks for node >= 20.19, which only matters for running Cesium's tools, not for `npm ci`),
# and import both into podman.
#
#   sudo deploy/docker/make-local-bases.sh          # ~3 min; needs debootstrap and podman
#   PYTHON_IMAGE=localhost/twin-base/python:3.11-bookworm NODE_IMAGE=localhost/twin-base/node:18-bookworm \
#       deploy/docker/smoke-container.sh
#
# The stand-ins are not the official images: Python is Debian's /usr/bin/python3 (3.11.2) instead of
# /usr/local/bin/python3, the base is ~45 MB larger. The Dockerfile uses only `python3 -m venv`, `pip`, `npm`
# and `useradd` from them, which both provide.
set -euo pipefail
MIRROR=${MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/twin-bases.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root/python" "$MIRROR"
# debootstrap resolves --include's dependencies poorly for npm (hundreds of node-* packages): it may stop with
# "Failure while configuring base packages"; apt inside the new root finishes the job.
debootstrap --variant=minbase --include=nodejs,npm,ca-certificates bookworm "$root/node" "$MIRROR" || true
cp /etc/resolv.conf "$root/node/etc/resolv.conf"
chroot "$root/node" env DEBIAN_FRONTEND=noninteractive apt-get -qq -f install -y
chroot "$root/node" env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y nodejs npm
rm -f "$root/node/etc/resolv.conf"
for dir in python node; do
    chroot "$root/$dir" apt-get clean
    rm -rf "$root/$dir/var/lib/apt/lists/"* "$root/$dir/debootstrap"
done
chroot "$root/python" python3 -m venv --help >/dev/null
chroot "$root/node" npm --version >/dev/null

tar -C "$root/python" -c . | podman import --change 'CMD ["python3"]' - localhost/twin-base/python:3.11-bookworm
tar -C "$root/node" -c . | podman import --change 'CMD ["node"]' - localhost/twin-base/node:18-bookworm
podman images --filter 'reference=localhost/twin-base/*'
