#!/bin/sh
# A stand-in for a code formatter under test, wrong on purpose: it indents by 2 spaces
# where the expected outputs have 4, and puts a warning among its output (as line 3) when
# a case has the file `warn`.
if [ -f warn ]; then w=1; else w=0; fi
sed -e 's/^    /  /' in.txt | awk -v w="$w" 'NR == 3 && w { print "# warning: line too long" } { print }' > out.txt
