#!/bin/sh
# The container's entrypoint: runs the command (default: twin demo) after checking that the data dir is
# writable. A bind mount (-v ./data:/data) keeps its owner on the host, usually not the container's uid 10001;
# twin would then stop with SQLite's "unable to open database file" and a long traceback. This says why and
# what to do instead. Only for twin's commands that write there (ingest, demo, serve with the SQLite catalog).
set -eu
dir="${TWIN_DATA_DIR:-/data}"
needs_write=no
if [ "${1:-}" = twin ]; then
    case "${2:-}" in
        demo | ingest | build) needs_write=yes ;;
        serve) if [ -z "${TWIN_DATABASE_URL:-}" ]; then needs_write=yes; fi ;;
    esac
fi
if [ "$needs_write" = yes ] && [ -d "$dir" ] && ! [ -w "$dir" ]; then
    cat >&2 <<MSG
twin: the data dir $dir is not writable by uid $(id -u) (it belongs to uid $(stat -c %u "$dir")).
A folder mounted with -v must be writable by the container's user. Either
  run the container as the folder's owner:  docker run --user "\$(id -u):\$(id -g)" -p 8000:8000 -v ./data:/data twin
  give the folder to uid 10001:            sudo chown -R 10001 ./data
  or use a named volume:                    docker run -p 8000:8000 -v twin-data:/data twin
MSG
    exit 1
fi
exec "$@"
