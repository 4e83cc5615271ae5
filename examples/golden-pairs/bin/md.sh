#!/bin/sh
# A stand-in for a Markdown converter under test: `# title` becomes <h1>, `**x**` <strong>,
# `*x*` <em>, every other non-empty line a paragraph. It reads the file it is given and
# writes HTML to standard output.
sed -e 's|\*\*\([^*]*\)\*\*|<strong>\1</strong>|g' \
    -e 's|\*\([^*]*\)\*|<em>\1</em>|g' \
    -e 's|^# \(.*\)$|<h1>\1</h1>|' \
    -e '/^<h1>/!s|^\(..*\)$|<p>\1</p>|' \
    -e '/^$/d' "$1"
