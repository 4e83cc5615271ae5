#!/usr/bin/env bash
# How the reference cases of this example were made (their expected/ outputs are committed,
# as a vendor's archived references would be). Rerun only to change the reference set.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -fopenmp build-solver/src/solver.c -o "$tmp/solver" -lm
rm -rf cases
for method in thomas cg; do
    for n in 10 50 200 1000; do
        for alpha in 0 1 10; do
            case "$method-$n-$alpha" in
                thomas-10-10|cg-10-10|thomas-1000-0|cg-1000-0) continue ;;
            esac
            name="$method-n$n-a$alpha"
            mkdir -p "cases/$name/expected"
            printf '{"n": %s, "alpha": %s, "source": 0.5, "method": "%s", "tol": 1e-12}\n' \
                "$n" "$alpha" "$method" > "cases/$name/input.json"
            (cd "cases/$name" && OMP_NUM_THREADS=1 "$tmp/solver" --input input.json \
                --out expected/result.csv && mv log.txt expected/log.txt)
        done
    done
done
mkdir -p cases/scaling-cg/expected
printf '{"n": 1000000, "alpha": 1, "source": 0.5, "method": "cg", "max_iter": 60, "stride": 10000}\n' \
    > cases/scaling-cg/input.json
(cd cases/scaling-cg && OMP_NUM_THREADS=1 "$tmp/solver" --input input.json \
    --out expected/result.csv && mv log.txt expected/log.txt)
ls cases | wc -l
