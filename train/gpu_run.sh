#!/bin/sh
# One GPU session (device tool, 15 minutes in all): go on training the
# shipped model and bring the weights back.
#   sh train/gpu_run.sh MINUTES OUTDIR
# Needs the pack in .pack/ (train/make_pack.py; name .pack in `carry`).
# Writes OUTDIR/main.pt (weights, refreshed at every checkpoint) and
# OUTDIR/main.log. Then, here:
#   train/export.py OUTDIR/main.pt models/NAME.safetensors --name NAME
#   train/evaluate.py / bench/rd.py to compare with the shipped model.
# The first session (2026-11-26) ran batch 16 without these options and
# reached only ~38 steps/s on an H100: the GPU was mostly idle. This run uses
# a larger batch, bf16 convolutions and torch.compile, and trains image-edge
# patches too. Its levels start from the shipped operating points, each with
# the lambda it stands for (train.py does that for a .safetensors --init).
set -u
minutes=$1; out=$2
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 train/train.py --pack .pack/train.npz --run /tmp/run-main --minutes "$minutes" \
    --init models/m2t-v1.safetensors --batch 48 --lr 3e-4 --warmup 200 \
    --amp --compile --edge-patches 0.2 \
    --ckpt-minutes 1.5 --eval-minutes 2 --snapshot "$out/main.pt" 2>&1 | tee "$out/main.log"
