#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages when it is missing:
# PostgreSQL server binaries, redis-server (the Redis token cache's tests),
# chromium (browser tests) and a CJK font (readable screenshots). Without root
# or apt it only reports what is missing.
set -euo pipefail

missing=()
have_pg() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null
}
have_pg || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then missing+=(fonts-wqy-microhei); fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})." >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
