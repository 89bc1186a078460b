#!/usr/bin/env bash
# Builds the emulator's Docker image, tbgw-emulator:VERSION and :latest, with no registry:
# `tbgw` is linked statically on this machine and copied into an empty (FROM scratch) image.
# Usage: harness/docker/build-image.sh   (prints the image's name and size)
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
host=$(rustc -vV | sed -n 's/^host: //p')
# crt-static applies to the target only (not to build scripts) because --target is explicit.
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin tbgw --target "$host"

context=target/docker-context
rm -rf "$context" && mkdir -p "$context"
# Stripped: the line tables of the release profile would make the image 95 MB instead of 17.
strip -o "$context/tbgw" "target/$host/release/tbgw"
if readelf -d "$context/tbgw" | grep -q NEEDED; then
    echo "build-image.sh: target/$host/release/tbgw is not static; it cannot run FROM scratch" >&2
    exit 1
fi
docker build --quiet -f harness/docker/Dockerfile \
    -t "tbgw-emulator:$version" -t tbgw-emulator:latest "$context" >/dev/null
# A rebuild leaves the previous image untagged: drop those (only this project's).
docker image prune -f --filter label=org.tbgw.image=emulator >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "tbgw-emulator:$version"
