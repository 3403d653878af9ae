#!/usr/bin/env bash
# The container recipe, runnable here: run the sample service in a container, warm it, checkpoint
# it from the host, put the image into the next container's image, and restore it as that
# container's entrypoint (restore --foreground --or-start), then show the fallback with a damaged
# image. The containers are the stand-in the tests use: a pid and a mount namespace of their own
# with a private /tmp, made with unshare (podman cannot run containers on this machine; see
# docs/containers.md). The entrypoint is the Containerfile's.
#
#   deploy/container/recipe.sh [work-dir]      (root; CRIU from .ci/install-criu.sh; apps built;
#                                               work-dir default artifacts/container-recipe)
#
# Prints "path=<restored|cold-start>" for each start and exits non-zero on any failure.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
configuration=${CONFIGURATION:-debug}
tool=$repo/artifacts/bin/dotnet-crac/$configuration/dotnet-crac.dll
app=$repo/artifacts/bin/WebApp/$configuration/WebApp.dll
port=${PORT:-5390}
# Not under /tmp: each container mounts a /tmp of its own over it.
work=${1:-$repo/artifacts/container-recipe}
case $work in /tmp|/tmp/*) echo "recipe: the work directory must not be under /tmp (each container mounts its own /tmp)" >&2; exit 2;; esac
layer=$work/layer            # what the Containerfile COPYs to /image
mkdir -p "$work"
export CRAC_CRIU_PATH=${CRAC_CRIU_PATH:-$repo/.tools/criu/criu}

say() { printf 'recipe: %s\n' "$*"; }
fail() { printf 'recipe: FAILED: %s\n' "$*" >&2; exit 1; }
[ -f "$tool" ] && [ -f "$app" ] || fail "build first: dotnet build Crac.Diagnostics.sln"
[ -x "$CRAC_CRIU_PATH" ] || fail "no CRIU at $CRAC_CRIU_PATH: run .ci/install-criu.sh"

# A container: its own pid and mount namespaces, a private /tmp, inherited fds closed (CRIU
# cannot dump files of another mount namespace), optionally the image layer at /image, stdio in
# the container's /tmp/out.log. "$@" is the entrypoint.
cat >"$work/container" <<'SCRIPT'
#!/bin/bash
for f in /proc/$$/fd/*; do fd=${f##*/}; [ "$fd" -gt 2 ] && eval "exec $fd<&-"; done 2>/dev/null
cd "${CRAC_WORKDIR:-/}" && mount -t tmpfs tmpfs /tmp
if [ -n "${CRAC_LAYER:-}" ]; then mkdir -p /tmp/image && mount --bind "$CRAC_LAYER" /tmp/image; fi
exec setsid "$@" </dev/null >/tmp/out.log 2>&1
SCRIPT
chmod 700 "$work/container"

container_pids=()
# Killing unshare leaves its namespace's pid 1 running: each container's process is killed too.
cleanup() { for pid in "${container_pids[@]}" $(pgrep -f -- "^dotnet $app") ; do kill -9 "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts a container; sets $started to the host pid of the process matching $2 inside it.
start_container() {
  local layer_dir=$1 pattern=$2; shift 2
  CRAC_LAYER=$layer_dir CRAC_WORKDIR=$(dirname "$app") setsid unshare --pid --fork --mount-proc --mount "$work/container" "$@" </dev/null >/dev/null 2>&1 &
  container_pids+=($!)
  started=
  for _ in $(seq 1 300); do
    started=$(pgrep -f -- "$pattern" | while read -r p; do [ "$(awk '/^NSpid/{print NF}' /proc/$p/status)" = 3 ] && echo "$p"; done | head -1) || true
    [ -n "$started" ] && container_pids+=("$started") && return 0
    sleep 0.1
  done
  fail "no process matching '$pattern' in the container"
}

wait_http() {
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/" 2>/dev/null && return 0; sleep 0.1; done
  fail "nothing answers on port $port"
}

say "1. the service in a container"
start_container "" "^dotnet $app" env DOTNET_STARTUP_HOOKS="$(dirname "$tool")/Crac.Agent.dll" dotnet "$app" --urls "http://127.0.0.1:$port"
pid=$started
say "   host pid $pid, pid $(awk '/^NSpid/{print $3}' /proc/$pid/status) in its namespace"

say "2. warm it"
wait_http >/dev/null
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/" >/dev/null; done

say "3. checkpoint it from the host, by its host pid"
rm -rf "$layer"
dotnet "$tool" checkpoint "$pid" --engine criu --image-dir "$layer" --label app=webapp
for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done

say "4. the image goes into the next container's image (here: a directory it mounts at /tmp/image)"
dotnet "$tool" inspect "$layer" | sed 's/^/   /'

say "5. a new container restores it as its entrypoint"
entrypoint=(dotnet "$tool" restore /tmp/image --foreground --or-start --require-label app=webapp --format json
            -- dotnet "$app" --urls "http://127.0.0.1:$port")
start_container "$layer" "^dotnet $tool restore" "${entrypoint[@]}"
supervisor=$started
answer=$(wait_http)
say "   it answers: $answer"
for _ in $(seq 1 100); do grep -q '"path"' "/proc/$supervisor/root/tmp/out.log" 2>/dev/null && break; sleep 0.1; done
grep -o '"path": "[a-z-]*"' "/proc/$supervisor/root/tmp/out.log" | head -1 | sed 's/"path": "\(.*\)"/path=\1/'
kill -TERM "$supervisor"   # the supervisor passes it on; the service drains and exits
for _ in $(seq 1 100); do [ -d "/proc/$supervisor" ] || break; sleep 0.1; done

say "6. the same container with a damaged image starts the service cold"
pages=$(ls -S "$layer"/pages-*.img | head -1)
truncate -s 4096 "$pages"
start_container "$layer" "^dotnet $tool restore" "${entrypoint[@]}"
supervisor=$started
answer=$(wait_http)
say "   it answers: $answer"
for _ in $(seq 1 100); do grep -q '"path"' "/proc/$supervisor/root/tmp/out.log" 2>/dev/null && break; sleep 0.1; done
grep -o '"path": "[a-z-]*"' "/proc/$supervisor/root/tmp/out.log" | head -1 | sed 's/"path": "\(.*\)"/path=\1/'
grep -o '"reason": "[^"]*"' "/proc/$supervisor/root/tmp/out.log" | head -1 | sed 's/^/   /'
say "done"
