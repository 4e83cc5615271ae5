#!/bin/sh
# A stand-in for a Markdown converter under test, run as markdown2's suite runs it: the
# input's options are in x.opts beside x.text (words: safe_mode escapes raw HTML,
# breaks turns each line end within a paragraph into <br />), and its tags in x.tags
# (needs:TOOL: skipped, with automake's 77, when TOOL is not on PATH).
set -e
stem=${1%.text}
if [ -f "$stem.tags" ]; then
    for tag in $(cat "$stem.tags"); do
        case $tag in
        needs:*)
            command -v "${tag#needs:}" >/dev/null 2>&1 || {
                echo "requires ${tag#needs:}" >&2
                exit 77
            } ;;
        esac
    done
fi
opts=$(cat "$stem.opts" 2>/dev/null || true)
safe='s|&|\&amp;|g; s|<|\&lt;|g; s|>|\&gt;|g'
case " $opts " in *" safe_mode "*) ;; *) safe='' ;; esac
breaks=''
case " $opts " in *" breaks "*) breaks='$!s|$|<br />|' ;; esac
# One paragraph per block of lines.
sed -e "$safe" "$1" | sed -e "$breaks" | awk '
    /^$/ { if (p != "") print "<p>" p "</p>"; p = ""; next }
    { p = (p == "") ? $0 : p "\n" $0 }
    END { if (p != "") print "<p>" p "</p>" }'
