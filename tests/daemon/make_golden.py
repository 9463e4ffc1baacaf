#!/usr/bin/env python3
"""Writes the golden bitstream of a model: the one m2td decodes at start-up
(and on SIGHUP) before it reports ready.

    python3 tests/daemon/make_golden.py build/clients/m2t models/m2t-v1.safetensors

It compresses a 96x80 synthetic PNG (gradients, a disc, fixed texture) at
quality 4 with the given model and writes <model without .safetensors>
.golden.m2t beside it. Rerun it only when a model is replaced: the file is
committed, and its whole point is to catch a library or model that no longer
decodes what it once wrote.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m2td_harness as h  # noqa: E402


def main():
    if len(sys.argv) != 3 or not sys.argv[2].endswith(".safetensors"):
        sys.exit("usage: make_golden.py M2T_CLI MODEL.safetensors")
    cli, model = sys.argv[1], sys.argv[2]
    out = model[: -len(".safetensors")] + ".golden.m2t"
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "golden.png")
        with open(png, "wb") as f:
            f.write(h.synthetic_png(96, 80, seed=1))
        subprocess.run([cli, "compress", "-q", "4", "-m", model, png, "-o", out], check=True)
    print("wrote", out)


if __name__ == "__main__":
    main()
