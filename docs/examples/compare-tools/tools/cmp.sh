#!/bin/sh
# The suite's own comparison: out.txt's number on both sides, as numbers ("1.0" is "1.00").
e=$(cat "$1/out.txt"); a=$(cat "$2/out.txt")
if [ "$(awk -v x="$e" 'BEGIN { print x + 0 }')" != "$(awk -v x="$a" 'BEGIN { print x + 0 }')" ]
then
    echo "out.txt: expected $e, got $a"
    exit 1
fi
# The directory is also the command's variable (for scripts that call each other).
[ -f "$ASSAY_COMPARE_TOOLS/cmp.sh" ] || { echo "no ASSAY_COMPARE_TOOLS"; exit 2; }
