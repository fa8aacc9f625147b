#!/usr/bin/env bash
# The seed, end to end: a Debian base from debootstrap, the Flask app built on it, run,
# answered over HTTP; then app.py edited and rebuilt, showing the apt layer come from cache, and
# edited again, rebuilt by the front program alone (the edit replay) and answered over HTTP.
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_ROOT="${STRATA_ROOT:-/var/lib/strata}"
# `strata` as users run it: the front program (answers a no-op build from its memo, else starts
# the Node CLI); the CLI itself where the native build is missing.
strata() {
  if [ -x native/build/Release/strata ]; then native/build/Release/strata "$@"; else node dist/strata.cjs "$@"; fi
}
port="${PORT:-5000}"

npm run --silent build
bash scripts/make-debian-rootfs.sh
echo "== strata build examples/debian -t debian:bookworm"
strata build examples/debian -t debian:bookworm --progress plain
echo "== strata build examples/flask -t webapp-rockets"
strata build examples/flask -t webapp-rockets --progress plain

cleanup() { strata rm -f webapp-demo >/dev/null 2>&1 || true; }
trap cleanup EXIT
# Runs webapp-rockets, prints what it answers over HTTP, stops it.
serve() {
  cleanup
  echo "== strata run -d --name webapp-demo -e PORT=$port webapp-rockets"
  strata run -d --name webapp-demo -e "PORT=$port" webapp-rockets
  answer=""
  for _ in $(seq 1 100); do
    answer=$(curl -fsS "http://127.0.0.1:$port/" 2>/dev/null) && break
    sleep 0.2
  done
  [ -n "$answer" ] || { strata logs webapp-demo; echo "demo: the app did not answer on port $port" >&2; exit 1; }
  echo "== curl http://127.0.0.1:$port/ -> $answer"
  strata stop webapp-demo >/dev/null
}
serve

echo "== edit app.py and rebuild: the apt-get layer comes from the cache"
work=$(mktemp -d)
log=$(mktemp)
cp -r examples/flask/. "$work/"
sleep 0.2 # the build memo records only a context older than its racy margin
sed -i 's/is flying!/is flying again!/' "$work/app.py"
strata build "$work" -t webapp-rockets --progress plain 2>&1 | tee "$log"
grep -q 'CACHED' "$log"
echo "== edit app.py again and rebuild: only the last COPY's file changed, so the front program"
echo "   makes that layer and the image itself, without starting Node (the edit replay)"
sed -i 's/is flying again!/is flying once more!/' "$work/app.py"
strata build "$work" -t webapp-rockets --progress plain 2>&1 | tee "$log"
grep -q 'only files the last COPY copies have changed' "$log"
rm -rf "$work" "$log"
serve
case "$answer" in *"once more"*) ;; *) echo "demo: the rebuilt image answered: $answer" >&2; exit 1 ;; esac
strata history webapp-rockets
echo "demo: done"
