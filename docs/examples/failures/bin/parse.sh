#!/bin/sh
# A stand-in for a parser under test, wrong on purpose: it cuts an anchor short, rounds a
# number, stops after the number of lines in `lines` when a case has that file, and fails
# (exit code 1) on a directive it does not know.
sed -e 's/:anchor/:a/' -e 's/0\.3333333/0.3334/' -e '/^%TAG/,$d' in.txt |
  head -n "$(cat lines 2>/dev/null || echo 1000)" > out.txt
if grep -q '^%TAG' in.txt; then echo "unknown directive %TAG" >&2; exit 1; fi
