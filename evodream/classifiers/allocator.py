"""Keep freed tensor memory inside the process instead of returning it to the OS after every batch.

glibc's malloc serves big blocks with fresh ``mmap`` calls and unmaps them on free, and trims the
heap whenever its free top passes 128 KiB. A 224-px CNN allocates and frees tens of MB per layer
per batch, so by default every forward pass faults in new zeroed pages: EfficientNet-Lite0 on one
thread at batch 8 ran 21.8 img/s with 1.0 million minor page faults in 6 s (a third of its time in
the kernel), and 41.3 img/s with none once both thresholds were raised (2 threads, batch 16: 84
img/s). The cost: a heap that is never trimmed keeps whatever fragmentation makes of it (a
1,000-class direct ImageNet run, which freed a different-sized batch copy every generation,
grew its heap by ~45 MB per 20 generations until that copy went). As a backstop, every
RELEASE_SECONDS (10 s) the classifier hands back the pages of whatever is free at that moment
(malloc_trim), which costs one refill of the working set.

Only glibc has ``mallopt``; elsewhere, or when the user set glibc's own MALLOC_* variables, this
does nothing.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_INT_MAX = 2**31 - 1  # mallopt takes a C int
_MMAP_THRESHOLD = 1 << 30  # blocks under 1 GiB come from the heap and stay there when freed

RELEASE_SECONDS = 10.0

_done = False
_libc = None


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds once per process; True if they are now raised."""
    global _done, _libc
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(key in os.environ
           for key in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")):
        return False  # the user chose their own allocator settings
    try:
        _libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    _done = (bool(_libc.mallopt(M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
             and bool(_libc.mallopt(M_TRIM_THRESHOLD, _INT_MAX)))
    return _done


def release_free_memory() -> None:
    """Return the pages of all currently free heap blocks to the OS (after keep_freed_memory)."""
    if _done:
        _libc.malloc_trim(0)
