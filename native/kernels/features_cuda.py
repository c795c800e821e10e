"""Zero-copy GPU gather of feature rows from mapped pinned host memory (numba.cuda).

PyTorch-Direct (Min et al., VLDB 2021): GPU threads read the rows of a batch straight from
pinned host memory through unified virtual addressing, so only the requested bytes cross
PCIe and no CPU thread gathers. The layout makes every access a full, aligned PCIe read:

- every host row starts on a 128-byte boundary (the row stride is padded to 128 bytes,
  :func:`native.kernels.features.row_words`), and is read as 8-byte words;
- one warp copies one row: lane ``l`` moves words ``l, l + 32, ...``, so each warp-wide load
  is one contiguous, aligned 256-byte request (naive thread-per-element kernels on unaligned
  64-dim rows split rows across requests and waste packets).

Imported only when a CUDA gather is asked for (``native.features`` imports it lazily). The
kernel names ``cuda`` as a module global, which lets Numba's simulator stand in for a device.
"""

from __future__ import annotations

from native.device import numba_cuda

WARP = 32

cuda = numba_cuda()


@cuda.jit
def gather_words(src, ids, out):
    """out[i, :] = src[ids[i], :Wo], one warp per row (grid-stride over rows).

    src: (N, W) int64 words of the padded host rows (a mapped array, device visible);
    ids: (B,) int64 row ids; out: (B, Wo) int64 device words, Wo <= W.
    """
    lane = cuda.threadIdx.x % WARP
    warp = (cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x) // WARP
    nwarps = (cuda.gridDim.x * cuda.blockDim.x) // WARP
    words = out.shape[1]
    i = warp
    while i < ids.shape[0]:
        r = ids[i]
        c = lane
        while c < words:
            out[i, c] = src[r, c]
            c += WARP
        i += nwarps


def launch_gather(src_words, ids, out_words, stream=0, threads=256, max_blocks=4096):
    """Launch :func:`gather_words` with one warp per row; ``threads`` a multiple of 32."""
    b = ids.shape[0]
    if b == 0:
        return
    warps_per_block = threads // WARP
    blocks = min(max_blocks, (b + warps_per_block - 1) // warps_per_block)
    gather_words[blocks, threads, stream](src_words, ids, out_words)
