"""Coding schedules: in which order the tokens of one patch are uncovered.

A schedule is a permutation of the wT*wT positions of a patch (raster index
row * wT + col) cut into S groups. The C library computes the same schedules
(lib/codec/schedule.c); proto/bitstream.md gives the exact definitions.
"""
import math

PLASTIC = 1.32471795724474602596  # real root of x^3 = x + 1


def _round_half_up(x):
    return math.floor(x + 0.5)


def qlds_order(height, width):
    """Quantized R2 low-discrepancy sequence: first hits of each grid cell."""
    a1 = 1.0 / PLASTIC
    a2 = 1.0 / (PLASTIC * PLASTIC)
    taken = [False] * (height * width)
    order = []
    n = 1
    while len(order) < height * width:
        row = _round_half_up(math.fmod(0.5 + n * a1, 1.0) * height) % height
        col = _round_half_up(math.fmod(0.5 + n * a2, 1.0) * width) % width
        idx = row * width + col
        if not taken[idx]:
            taken[idx] = True
            order.append(idx)
        n += 1
    return order


def raster_order(height, width):
    return list(range(height * width))


def random_order(height, width, seed=0x4D3254):
    """Fisher-Yates with a 64-bit LCG (same constants as the C library)."""
    order = list(range(height * width))
    state = seed & 0xFFFFFFFFFFFFFFFF
    for i in range(len(order) - 1, 0, -1):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        j = (state >> 33) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def group_sizes(n_tokens, steps, alpha):
    """Power schedule: after step i, round(N * (i/S)^alpha) tokens are known.

    Every group holds at least one token, so S may range from 1 to N.
    """
    if not 1 <= steps <= n_tokens:
        raise ValueError("steps must be in 1..n_tokens")
    sizes = []
    done = 0
    for i in range(1, steps + 1):
        target = _round_half_up(n_tokens * math.pow(i / steps, alpha))
        target = max(target, done + 1)                 # non-empty group
        target = min(target, n_tokens - (steps - i))   # leave one per later group
        sizes.append(target - done)
        done = target
    return sizes


def make_order(kind, height, width):
    if kind == "qlds":
        return qlds_order(height, width)
    if kind == "raster":
        return raster_order(height, width)
    if kind == "random":
        return random_order(height, width)
    raise ValueError("unknown schedule order %r" % kind)
