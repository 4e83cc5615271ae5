#!/bin/sh
# A stand-in for a lexer under test, as Pygments runs one: `lex.sh ALIAS FILE` writes one
# line per word of FILE, the word and its class; the class depends on the lexer ALIAS (the
# directory the file is in): `[x]` is a section in ini, `#x` a directive in c and cpp.
awk -v lang="$1" '{
    for (i = 1; i <= NF; i++) {
        w = $i; class = "Text"
        if (lang == "ini" && w ~ /^\[.*\]$/) class = "Keyword.Section"
        else if ((lang == "c" || lang == "cpp") && w ~ /^#/) class = "Comment.Preproc"
        else if (lang == "cpp" && w == "namespace") class = "Keyword"
        else if (lang == "make" && w ~ /:$/) class = "Name.Function"
        printf "%-13s %s\n", "\047" w "\047", class
    }
}' "$2"
