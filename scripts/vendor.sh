#!/usr/bin/env bash
#
# vendor.sh refreshes static/vendor from the npm registry.
#
# It installs the exact versions pinned in package.json / package-lock.json
# (npm ci, integrity-checked, no install scripts) into a temporary directory,
# checks that the versions are the expected ones, copies the few files the app
# serves plus their licences into static/vendor, and rewrites the READMEs there.
#
# Node and npm are needed only to run this script. The app, its tests and CI
# use the committed files and never need Node.
#
# To upgrade a library: change the version below AND in package.json, run
# `npm install --package-lock-only --ignore-scripts` to refresh the lock file,
# run this script, then update the version strings in static/static_test.go.
set -euo pipefail

WEUI_VERSION=2.6.26
HTMX_VERSION=2.0.11
JSSDK_VERSION=2.4.4

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/static/vendor"
LICENSES="$VENDOR/licenses"

die() { echo "vendor.sh: $*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found (only needed to refresh static/vendor)"
command -v node >/dev/null || die "node not found (only needed to refresh static/vendor)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cp "$ROOT/package.json" "$ROOT/package-lock.json" "$TMP/"
(
	cd "$TMP"
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
)
NM="$TMP/node_modules"

# field PKG_JSON EXPR prints one field of a package.json.
field() { node -p "const p=require(process.argv[1]); $2" "$1"; }

# check NAME WANT: package.json pin and installed version must both be WANT.
check() {
	local name="$1" want="$2" pinned got
	pinned="$(field "$ROOT/package.json" "(p.devDependencies||{})['$name']")"
	[[ "$pinned" == "$want" ]] || die "package.json pins $name@$pinned, script expects $want"
	got="$(field "$NM/$name/package.json" 'p.version')"
	[[ "$got" == "$want" ]] || die "npm installed $name@$got, expected $want"
	echo "ok  $name@$got ($(field "$NM/$name/package.json" 'p.license'))"
}
check weui "$WEUI_VERSION"
check htmx.org "$HTMX_VERSION"
check @wecom/jssdk "$JSSDK_VERSION"

WEUI_SRC="$NM/weui/dist/style/weui.min.css"
HTMX_SRC="$NM/htmx.org/dist/htmx.min.js"
JSSDK_SRC="$NM/@wecom/jssdk/dist/wecom.global.prod.js"

# The files themselves must carry the version too (guards against a
# mislabelled tarball and documents what the tests check).
grep -q "WeUI v$WEUI_VERSION" "$WEUI_SRC" || die "weui.min.css lacks 'WeUI v$WEUI_VERSION'"
grep -q "version:\"$HTMX_VERSION\"" "$HTMX_SRC" || die "htmx.min.js lacks version:\"$HTMX_VERSION\""
grep -q "\"$JSSDK_VERSION\"" "$JSSDK_SRC" || die "wecom.global.prod.js lacks \"$JSSDK_VERSION\""
head -c 8 "$JSSDK_SRC" | grep -q '^var ww=' || die "wecom.global.prod.js does not start with 'var ww='"

WEUI_DST="weui-$WEUI_VERSION.min.css"
HTMX_DST="htmx-$HTMX_VERSION.min.js"
JSSDK_DST="wecom-jssdk-$JSSDK_VERSION.global.prod.js"

# Start from a clean folder so old versions do not linger in the embed.
rm -rf "$VENDOR"
mkdir -p "$LICENSES"
cp "$WEUI_SRC" "$VENDOR/$WEUI_DST"
cp "$HTMX_SRC" "$VENDOR/$HTMX_DST"
cp "$JSSDK_SRC" "$VENDOR/$JSSDK_DST"

[[ -f "$NM/weui/LICENSE.txt" ]] || die "weui LICENSE.txt missing"
[[ -f "$NM/htmx.org/LICENSE" ]] || die "htmx.org LICENSE missing"
cp "$NM/weui/LICENSE.txt" "$LICENSES/weui-$WEUI_VERSION-LICENSE.txt"
cp "$NM/htmx.org/LICENSE" "$LICENSES/htmx.org-$HTMX_VERSION-LICENSE.txt"

# @wecom/jssdk ships no LICENSE file; record what its package.json declares.
JSSDK_LICENSE="$(field "$NM/@wecom/jssdk/package.json" 'p.license')"
[[ "$JSSDK_LICENSE" == "MIT" ]] || die "@wecom/jssdk licence is '$JSSDK_LICENSE', not MIT: review before vendoring"
JSSDK_REPO="$(field "$NM/@wecom/jssdk/package.json" 'p.homepage')"
for f in LICENSE LICENSE.txt LICENSE.md LICENCE; do
	[[ ! -e "$NM/@wecom/jssdk/$f" ]] || die "@wecom/jssdk now ships $f: copy it instead of the generated text"
done
cat >"$LICENSES/wecom-jssdk-$JSSDK_VERSION-LICENSE.txt" <<EOF
@wecom/jssdk $JSSDK_VERSION: licence statement
================================================

The npm package @wecom/jssdk@$JSSDK_VERSION ships NO licence file and no
copyright notice. Its package.json declares:

    "license": "$JSSDK_LICENSE"
    "homepage": "$JSSDK_REPO"

This file was written by scripts/vendor.sh from that declaration. The text
below is the standard MIT License (https://opensource.org/license/mit). The
copyright holder is not named in the package; it is presumed to be Tencent,
the publisher of $JSSDK_REPO.

----------------------------------------------------------------------------

MIT License

Copyright (c) Tencent and the @wecom/jssdk contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
EOF

cat >"$LICENSES/README.md" <<EOF
# Licences of the vendored files

| vendored file | package | licence | text |
|---|---|---|---|
| \`$WEUI_DST\` | weui@$WEUI_VERSION | MIT | \`weui-$WEUI_VERSION-LICENSE.txt\` (the package's LICENSE.txt, verbatim) |
| \`$HTMX_DST\` | htmx.org@$HTMX_VERSION | 0BSD | \`htmx.org-$HTMX_VERSION-LICENSE.txt\` (the package's LICENSE, verbatim) |
| \`$JSSDK_DST\` | @wecom/jssdk@$JSSDK_VERSION | MIT (declared) | \`wecom-jssdk-$JSSDK_VERSION-LICENSE.txt\` (**written by us**, see below) |

**@wecom/jssdk ships no LICENSE file.** The tarball contains only \`README.md\`,
\`package.json\`, \`dist/\` and \`types/\`, and no copyright notice. Its
\`package.json\` says \`"license": "$JSSDK_LICENSE"\`. The file
\`wecom-jssdk-$JSSDK_VERSION-LICENSE.txt\` therefore quotes that field and
reproduces the standard MIT text; the copyright holder is presumed to be
Tencent ($JSSDK_REPO). \`scripts/vendor.sh\` fails if a later version changes
the declared licence or starts shipping a licence file, so this is re-checked
on every upgrade.

The WeUI LICENSE.txt also lists build-time tools (gulp-sourcemaps, browser-sync)
under ISC/Apache-2.0; none of their code is in the minified CSS.

All files here are generated by \`scripts/vendor.sh\`; do not edit them by hand.
EOF

# Remote references in the CSS: anything in url(...) that is not an inline
# data: URI (or a #fragment inside one) would make the browser fetch from
# elsewhere, which our CSP and offline use forbid.
REMOTE_URLS="$(grep -oE "url\([\"']?[^\"')]{0,80}" "$VENDOR/$WEUI_DST" | grep -vE "^url\([\"']?(data:|%23|#)" || true)"
IMPORTS="$(grep -oE '@import[^;]*|@font-face' "$VENDOR/$WEUI_DST" || true)"
if [[ -n "$REMOTE_URLS$IMPORTS" ]]; then
	echo "WARNING: $WEUI_DST has non-inline references:" >&2
	echo "$REMOTE_URLS$IMPORTS" >&2
	CSS_NOTE="**Non-inline references found (review!):**
\`\`\`
$REMOTE_URLS
$IMPORTS
\`\`\`"
else
	CSS_NOTE="None. Every \`url(\` in the CSS is an inline \`data:image/svg+xml\` URI (icons drawn with
\`mask-image\`/\`background-image\`; the \`url(%23…)\` hits are gradient references *inside*
those SVGs). There is no \`@import\` and no \`@font-face\`: the font stack is
\`system-ui,-apple-system,Helvetica Neue,sans-serif\`. **CSP consequence:** these icons need
\`img-src 'self' data:\` (CSS images are governed by \`img-src\`)."
fi
N_DATA_URLS="$(grep -oE 'url\(["'"'"']?data:' "$VENDOR/$WEUI_DST" | wc -l | tr -d ' ')"

JS_URLS="$(grep -oE 'https://[a-z0-9.]+\.qq\.com[^"'"'"' )`]*' "$VENDOR/$JSSDK_DST" | sort -u | sed 's/^/    /')"

sizes() {
	local f="$1"
	printf '%s bytes, %s gzip' "$(wc -c <"$f" | tr -d ' ')" "$(gzip -9c "$f" | wc -c | tr -d ' ')"
}

cat >"$VENDOR/README.md" <<EOF
# Vendored third-party files

Generated by \`scripts/vendor.sh\` from the npm registry (\`npm ci\` of the root
\`package.json\`/\`package-lock.json\`, exact versions, integrity-checked). Do not
edit by hand; rerun the script. Node is not needed at run time or in CI.

| file | from | size | sha256 |
|---|---|---|---|
| \`$WEUI_DST\` | weui@$WEUI_VERSION \`dist/style/weui.min.css\` | $(sizes "$VENDOR/$WEUI_DST") | \`$(sha256sum "$VENDOR/$WEUI_DST" | cut -d' ' -f1)\` |
| \`$HTMX_DST\` | htmx.org@$HTMX_VERSION \`dist/htmx.min.js\` | $(sizes "$VENDOR/$HTMX_DST") | \`$(sha256sum "$VENDOR/$HTMX_DST" | cut -d' ' -f1)\` |
| \`$JSSDK_DST\` | @wecom/jssdk@$JSSDK_VERSION \`dist/wecom.global.prod.js\` (global build, defines \`var ww\`) | $(sizes "$VENDOR/$JSSDK_DST") | \`$(sha256sum "$VENDOR/$JSSDK_DST" | cut -d' ' -f1)\` |

Licences: see \`licenses/README.md\`.

## htmx

Pinned to the 2.x line on purpose: the npm \`latest\` tag of htmx.org is 4.x
(fetch-based, explicit attribute inheritance, swaps 4xx/5xx by default). Do not
"upgrade" to \`latest\`.

## Remote references in $WEUI_DST

$CSS_NOTE

($N_DATA_URLS inline \`data:\` URIs.) WeUI's dark theme follows
\`prefers-color-scheme\` and can be forced with \`data-weui-theme="light|dark"\` on \`body\`.

## Remote references in $JSSDK_DST

Loading the file fetches nothing. It contains these Tencent URLs, used only by
specific APIs (the WeCom web-login panel, the open-data frame and the
security-gateway confirm modal), which create an iframe or navigate:

$JS_URLS

If those APIs are ever used, the CSP needs \`frame-src\` for those origins. The
sidebar APIs (\`ww.register\`, \`getCurExternalContact\`, \`sendChatMessage\`) go
through the native WeCom bridge. The build uses ES2020 syntax (\`?.\`, \`async\`),
which the WeCom client's webview supports; it is not for old WeChat webviews.
EOF

echo "vendored into ${VENDOR#"$ROOT"/}:"
(cd "$VENDOR" && find . -type f | sort | sed 's|^\./|    |')
