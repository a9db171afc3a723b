#!/usr/bin/env bash
# The Mermaid bundle the tests parse and render the Markdown plan's charts with
# (tests/test_mermaid.py), fetched once with npm and checked against a pinned digest.
# Only the self-contained dist/mermaid.min.js is kept (.cache/, git-ignored): the tests
# load it from a local file into headless chromium and never touch the network.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=11.17.2
# npm's "integrity" of mermaid-$VERSION.tgz (npm view mermaid@$VERSION dist.integrity)
INTEGRITY=sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==
DEST=.cache/mermaid-$VERSION
[ -f "$DEST/mermaid.min.js" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching mermaid $VERSION (npm pack)" >&2
(cd "$tmp" && npm pack --silent "mermaid@$VERSION" >/dev/null)
got=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tmp/mermaid-$VERSION.tgz")
if [ "$got" != "$INTEGRITY" ]; then
  echo "mermaid-$VERSION.tgz: digest $got, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tmp/mermaid-$VERSION.tgz" -C "$tmp" package/dist/mermaid.min.js
mkdir -p "$DEST"
mv "$tmp/package/dist/mermaid.min.js" "$DEST/mermaid.min.js"
