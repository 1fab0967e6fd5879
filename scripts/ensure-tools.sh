#!/usr/bin/env bash
# Installs the stock S3 clients the interoperability tests drive, and PostgreSQL, from Debian's packages.
# Tests call them by absolute path (/usr/bin/aws, /usr/bin/python3, /usr/bin/s3cmd) so a
# pyenv or pip copy earlier on PATH does not stand in for them.
set -euo pipefail
need=()
[ -x /usr/bin/aws ] || need+=(awscli)
/usr/bin/python3 -c 'import boto3' 2>/dev/null || need+=(python3-boto3)
[ -x /usr/bin/s3cmd ] || need+=(s3cmd)
[ -x /usr/bin/curl ] || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v script >/dev/null || need+=(bsdutils)
# PostgreSQL server binaries (initdb, pg_ctl, postgres) for the PostgreSQL metadata engine's tests, which start
# their own server in a temp dir (test/helpers/postgres.ts); Debian keeps them in /usr/lib/postgresql/N/bin.
pg_found=
for d in "${KURA_PG_BIN:-}" /usr/local/bin /usr/lib/postgresql/*/bin; do
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pg_found=1; break; fi
done
command -v initdb >/dev/null && command -v pg_ctl >/dev/null && pg_found=1
[ -n "$pg_found" ] || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}"
  if [ "$(id -u)" != 0 ]; then echo "ensure-tools: need root to apt-get install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
