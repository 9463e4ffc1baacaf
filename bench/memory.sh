#!/bin/sh
# Peak resident memory of compressing and decompressing a 6000 x 4000 photo.
#   bench/memory.sh [BUILD_DIR] [THREADS]
# The test image is a CLIC validation photo upscaled to 6000 x 4000 (made in
# a temporary folder; ../shared/data is read, never copied into the repo).
set -eu
build=${1:-build}
threads=${2:-2}
data=${M2T_DATA:-$(dirname "$0")/../../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$data/eval/clic2025-validation" "$tmp/big.png" <<'PY'
import os, sys
from PIL import Image
src = sorted(f for f in os.listdir(sys.argv[1]) if f.endswith(".png"))[0]
im = Image.open(os.path.join(sys.argv[1], src)).convert("RGB")
w = 6000
h = max(4000, round(im.height * w / im.width))
im.resize((w, h), Image.LANCZOS).crop((0, 0, 6000, 4000)).save(sys.argv[2], compress_level=1)
PY
for q in 1 8; do
    /usr/bin/time -f "compress   q=$q threads=$threads: %e s, peak RSS %M KiB" \
        "$build/clients/m2t" compress -q $q -t "$threads" "$tmp/big.png" -o "$tmp/big.m2t"
    /usr/bin/time -f "decompress q=$q threads=$threads: %e s, peak RSS %M KiB ($(stat -c %s "$tmp/big.m2t") bytes)" \
        "$build/clients/m2t" decompress -t "$threads" "$tmp/big.m2t" -o "$tmp/out.png"
done
