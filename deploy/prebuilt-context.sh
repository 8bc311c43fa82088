#!/usr/bin/env bash
# Lays out a build context for `deploy/Dockerfile --target prebuilt` from this checkout's compiled
# output, for builders that cannot run `npm ci` inside a container build (no registry access):
#   package.json, dist/src, src/dashboard/static and the production dependencies only (the
#   packages `npm ls --omit=dev` lists, copied from this checkout's node_modules).
# Run `npm ci && npm run build` (or `npm test`) first.
#   usage: deploy/prebuilt-context.sh DIR
set -euo pipefail
out=${1:?usage: deploy/prebuilt-context.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f dist/src/cli/main.js ] || { echo "prebuilt-context: dist/src is missing: run npm run build first" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/dist" "$out/src/dashboard" "$out/node_modules"
cp package.json package-lock.json "$out/"
cp -R dist/src "$out/dist/src"
cp -R src/dashboard/static "$out/src/dashboard/static"
# Every production package, nested ones included, at its own path below node_modules.
npm ls --omit=dev --all --parseable 2>/dev/null | while read -r dir; do
  rel=${dir#"$root"/}
  case "$rel" in node_modules/*) ;; *) continue ;; esac
  mkdir -p "$out/$(dirname "$rel")"
  [ -e "$out/$rel" ] || cp -R "$dir" "$out/$rel"
done
echo "$out"
