#!/usr/bin/env bash
# Install CRIU 4.2.x privately into <repo>/.tools/criu, without touching the
# system's libc, its packages, or its apt state.
#
#   .ci/install-criu.sh          # install (no-op if already installed)
#   .ci/install-criu.sh --force  # reinstall
#
# Result: <repo>/.tools/criu/criu, a wrapper that runs Debian unstable's criu
# binary through its own glibc loader (<repo>/.tools/criu/root/...).
#
# Why: only CRIU >= 4.2 works on the kernels we run on (Debian 12's 3.17 fails
# with "vdso: Unexpected rt vDSO area bounds", Debian 13's 4.1.1 fails on TCP
# sockets). Debian unstable ("sid") has 4.2.x, built against a newer glibc, so
# we take criu plus its library closure (sid's libc6 included) from sid and
# unpack them with dpkg-deb -x; nothing is installed with dpkg.
#
# The sid mirror is taken from the system's own apt sources (the entry that
# carries the bookworm suite), or from $CRIU_SID_URI if set. apt runs with a
# private sources list, lists dir and cache under .tools/criu/apt, so the
# system's package lists never see sid. The rest of the system apt
# configuration (proxies, ...) still applies; Release signatures are checked
# against debian-archive-keyring.gpg.
set -euo pipefail

want_major=4 want_minor=2
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-criu: unknown argument: $1" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$repo/.tools/criu
wrapper=$dest/criu

say()  { printf 'install-criu: %s\n' "$*"; }
fail() { printf 'install-criu: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'fail "unexpected failure at line $LINENO: $BASH_COMMAND"' ERR

# "Version: 4.2.1" -> succeeds if >= want_major.want_minor
version_ok() {
  local v maj min
  v=$(printf '%s\n' "$1" | sed -n 's/^Version: *\([0-9][0-9.]*\).*/\1/p' | head -n1)
  [ -n "$v" ] || return 1
  maj=${v%%.*}; min=${v#*.}; min=${min%%.*}
  [ "$maj" -gt "$want_major" ] || { [ "$maj" -eq "$want_major" ] && [ "$min" -ge "$want_minor" ]; }
}

if [ "$force" = 0 ] && [ -x "$wrapper" ] && out=$("$wrapper" --version 2>/dev/null) && version_ok "$out"; then
  say "already installed: $(printf '%s\n' "$out" | head -n1) ($wrapper)"
  exit 0
fi

mkdir -p "$dest"
# one installer at a time (parallel CI jobs); re-check once we hold the lock
exec 9>"$dest/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
  if [ "$force" = 0 ] && [ -x "$wrapper" ] && out=$("$wrapper" --version 2>/dev/null) && version_ok "$out"; then
    say "already installed: $(printf '%s\n' "$out" | head -n1) ($wrapper)"
    exit 0
  fi
fi

start=$(date +%s)
for t in apt-get apt-cache dpkg-deb awk sed find; do
  command -v "$t" >/dev/null 2>&1 || fail "required tool '$t' not found"
done

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || fail "$keyring not found (package debian-archive-keyring)"

# --- 1. the sid mirror URI, from the system's bookworm entry -----------------
uri=${CRIU_SID_URI:-}
if [ -z "$uri" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  # deb822: paragraphs separated by blank lines; take the first URI of the
  # first paragraph whose Suites: field contains the word "bookworm".
  uri=$(awk '
    function flush() { if (!found && suites ~ /(^|[ \t])bookworm([ \t]|$)/ && uris != "") { split(uris, a, /[ \t]+/); print a[1]; found = 1 } suites = ""; uris = "" }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]*#/ { next }
    tolower($0) ~ /^suites:/ { s = $0; sub(/^[^:]*:[ \t]*/, "", s); suites = s; next }
    tolower($0) ~ /^uris:/   { s = $0; sub(/^[^:]*:[ \t]*/, "", s); uris = s; next }
    END { flush() }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
  # one-line format fallback: deb [opts] URI bookworm components...
  uri=$(sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+bookworm[ \t].*/\2/p' /etc/apt/sources.list | head -n1)
fi
[ -n "$uri" ] || fail "could not find the bookworm entry's URIs: in /etc/apt/sources.list.d/debian.sources (set CRIU_SID_URI to a Debian mirror URI to override)"
uri=${uri%/}
say "using sid from $uri"

# --- 2. private apt state ----------------------------------------------------
aptdir=$dest/apt
log=$dest/install.log
rm -rf "$aptdir" "$dest/root.new"
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/sources.list.d" \
         "$aptdir/preferences.d" "$aptdir/debs"
: > "$log"
cat > "$aptdir/sources.list" <<EOF
deb [signed-by=$keyring] $uri sid main
EOF
apt_opts=(
  -o "Dir::Etc::SourceList=$aptdir/sources.list"
  -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
  -o "Dir::Etc::Preferences=$aptdir/preferences"
  -o "Dir::Etc::PreferencesParts=$aptdir/preferences.d"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$aptdir/cache"
  -o "Dir::Cache::pkgcache=$aptdir/cache/pkgcache.bin"
  -o "Dir::Cache::srcpkgcache=$aptdir/cache/srcpkgcache.bin"
  -o "Acquire::Languages=none"
  # Signatures are still checked; this only tolerates a mirror snapshot whose
  # Release file is older than its Valid-Until date (this machine's mirror is one).
  -o "Acquire::Check-Valid-Until=false"
  -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
)
# let apt's unprivileged download sandbox write into our folders
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
  chown _apt "$aptdir/debs" "$aptdir/lists/partial" "$aptdir/cache/archives/partial" 2>/dev/null || true
fi

run() { # run a command, its output to the log; show the log tail on failure
  if ! "$@" >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    fail "command failed: $* (full log: $log)"
  fi
}

say "apt-get update (sid lists only, private state in ${aptdir#$repo/})"
run apt-get -q "${apt_opts[@]}" update
if grep -qE '^(W|E): ' "$log"; then grep -E '^(W|E): ' "$log" | sed 's/^/  /' >&2; fi
if grep -qE '^(W|E): (Failed to fetch|Some index files failed)' "$log" \
   || ! ls "$aptdir/lists/"*_dists_sid_* >/dev/null 2>&1; then
  fail "could not download sid's package lists from $uri (see $log)"
fi

cand=$(apt-cache "${apt_opts[@]}" policy criu 2>>"$log" | awk '/Candidate:/ {print $2}')
case "$cand" in
  ""|"(none)") fail "criu not found in sid at $uri (see $log)" ;;
esac
say "sid has criu $cand"

# --- 3. library dependency closure -------------------------------------------
# Breadth-first over Depends/Pre-Depends, following only criu, libcompel1 and
# lib* packages (the run-time libraries; this includes sid's libc6).
declare -A seen=([criu]=1)
queue=(criu)
pkgs=()
while [ ${#queue[@]} -gt 0 ]; do
  pkgs+=("${queue[@]}")
  deps=$(apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests --no-conflicts \
           --no-breaks --no-replaces --no-enhances "${queue[@]}" 2>>"$log" \
         | sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: *<\{0,1\}\([^ >:]*\).*/\2/p' | sort -u) \
    || fail "apt-cache depends failed (see $log)"
  queue=()
  new=()
  for d in $deps; do
    case "$d" in lib*|criu) ;; *) continue ;; esac
    [ -n "${seen[$d]:-}" ] && continue
    seen[$d]=1; new+=("$d")
  done
  [ ${#new[@]} -gt 0 ] || break
  # keep only real packages (virtual ones have no candidate)
  while read -r d c; do
    case "$c" in ""|"(none)") ;; *) queue+=("$d") ;; esac
  done < <(apt-cache "${apt_opts[@]}" policy "${new[@]}" 2>>"$log" \
           | awk '/^[^ ].*:$/ {p = substr($0, 1, length($0) - 1)} /Candidate:/ {print p, $2}')
done
say "packages: ${pkgs[*]}"

say "apt-get download (${#pkgs[@]} packages)"
(cd "$aptdir/debs" && run apt-get -q "${apt_opts[@]}" download "${pkgs[@]}")

# --- 4. unpack into a staging root, check it, then swap it in ----------------
stage=$dest/root.new
mkdir -p "$stage"
for deb in "$aptdir/debs"/*.deb; do
  run dpkg-deb -x "$deb" "$stage"
done

crbin=$stage/usr/sbin/criu
[ -x "$crbin" ] || crbin=$stage/sbin/criu
[ -x "$crbin" ] || fail "criu binary not found in the unpacked packages"
ldso=$( { find "$stage/usr/lib" "$stage/lib" -maxdepth 2 -type f -name 'ld-linux*.so.*' 2>/dev/null || true; } | head -n1)
[ -n "$ldso" ] || fail "no ld-linux*.so.* found in the unpacked libc6"
libdir=$(dirname "$ldso")
triplet=$(basename "$libdir")
libpath=$libdir
for d in "$stage/lib/$triplet" "$stage/usr/lib/$triplet"; do
  [ -d "$d" ] && [ "$d" != "$libdir" ] && libpath=$libpath:$d
done

# every shared library must resolve inside the private root
if ! listing=$("$ldso" --library-path "$libpath" --list "$crbin" 2>&1); then
  printf '%s\n' "$listing" >&2; fail "the private loader cannot load criu"
fi
if printf '%s\n' "$listing" | grep -q 'not found'; then
  printf '%s\n' "$listing" >&2; fail "criu has unresolved libraries"
fi
if printf '%s\n' "$listing" | grep '=>' | grep -v "=> $stage/" | grep -q .; then
  say "warning: some libraries resolve outside the private root:"
  printf '%s\n' "$listing" | grep '=>' | grep -v "=> $stage/" | sed 's/^/  /'
fi

rm -rf "$dest/root.old"
[ -e "$dest/root" ] && mv "$dest/root" "$dest/root.old"
mv "$stage" "$dest/root"
rm -rf "$dest/root.old"

# The wrapper names the install folder by its absolute path: resolving its own location at
# run time would cost two extra processes (readlink, dirname) on every CRIU call, and a
# restore's latency is what CRIU is for. A moved checkout fails the version check above and
# is simply installed again.
rel() { printf '%s' "${1#$stage/}"; }
rel_libpath=""
IFS=: read -r -a lp <<<"$libpath"
for d in "${lp[@]}"; do rel_libpath="$rel_libpath${rel_libpath:+:}\$r/$(rel "$d")"; done

root_quoted=$(printf '%q' "$dest/root")
cat > "$wrapper.tmp" <<EOF
#!/bin/sh
# Generated by .ci/install-criu.sh: runs the private CRIU $cand (from Debian sid)
# through its own glibc loader. Arguments are passed through untouched.
# Helpers that criu execs (iptables, ip, tar, action scripts...) run with the
# system's libraries: nothing here is exported to child processes.
r=$root_quoted
exec "\$r/$(rel "$ldso")" --library-path "$rel_libpath" "\$r/$(rel "$crbin")" "\$@"
EOF
chmod 755 "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"

out=$("$wrapper" --version 2>&1) || { printf '%s\n' "$out" >&2; fail "$wrapper --version failed"; }
version_ok "$out" || fail "installed criu reports '$(printf '%s' "$out" | head -n1)', need >= $want_major.$want_minor"
case "$out" in
  *"Version: $want_major.$want_minor."*) ;;
  *) say "warning: sid now ships $(printf '%s\n' "$out" | head -n1), not $want_major.$want_minor.x" ;;
esac

rm -rf "$aptdir"   # lists, caches and .debs are no longer needed (~130 MB)
say "installed $(printf '%s\n' "$out" | head -n1) in $(( $(date +%s) - start ))s: $wrapper"

if [ "$(id -u)" = 0 ]; then
  if chk=$("$wrapper" check 2>&1); then
    say "criu check: $(printf '%s\n' "$chk" | grep -m1 'Looks good' || printf '%s\n' "$chk" | tail -n1)"
  else
    say "warning: 'criu check' failed:"; printf '%s\n' "$chk" | sed 's/^/  /' >&2
  fi
fi
