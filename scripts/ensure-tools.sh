#!/usr/bin/env bash
# Installs the stock S3 clients the interoperability tests drive, from Debian's packages.
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
if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}"
  if [ "$(id -u)" != 0 ]; then echo "ensure-tools: need root to apt-get install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
