#!/bin/sh
# An automake-style test: a case whose `needs` file names a program that is not installed
# says so and exits 77; the others convert in.txt to upper case.
if [ -f needs ] && ! command -v "$(cat needs)" >/dev/null; then
  echo "requires $(cat needs)" >&2
  exit 77
fi
tr a-z A-Z < in.txt > out.txt
