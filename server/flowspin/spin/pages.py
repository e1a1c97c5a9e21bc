"""Which inherited memory a spin child wrote, asked of the kernel instead of hashed.

A spin child shares the worker's pages copy-on-write. The first write to a page gives the
child a private copy, and `/proc/self/pagemap` says so per page ("exclusively mapped", bit 56).
Reading the 8-byte entries of a buffer's pages costs about 1/500 of hashing its bytes, so a
step that only read a 1.6 GB frame is told from one that changed it in about 5 ms.

The answer is conservative: a page counts as untouched only if it is present, anonymous,
not swapped and still shared. Anything else (a page the worker itself rewrote, one the child
wrote back unchanged, a platform without pagemap) means "maybe written", and the caller
then compares a hash, so no write can be missed; only time is lost.
"""

from __future__ import annotations

import os

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT, _SWAPPED, _SHARED_OR_FILE, _EXCLUSIVE = 0x80, 0x40, 0x20, 0x01
# The high byte of each pagemap entry (bits 56-63) -> 0 when the page is present, anonymous,
# not swapped and shared with another process (the worker), else 1.
_TOUCHED = bytes(
    0 if (v & (_PRESENT | _SWAPPED | _SHARED_OR_FILE | _EXCLUSIVE)) == _PRESENT else 1
    for v in range(256)
)


def untouched(ranges: list[tuple[int, int]]) -> list[bool]:
    """For each (address, length): True if no page of it was written since the fork."""
    if not ranges:
        return []
    if _has_children():
        # A forked grandchild shares the pages this child wrote, so they would not read as
        # exclusive: only a hash can tell.
        return [False] * len(ranges)
    try:
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return [False] * len(ranges)
    out = []
    try:
        for addr, length in ranges:
            if length <= 0:
                out.append(True)
                continue
            first, last = addr // PAGE, (addr + length - 1) // PAGE
            count = last - first + 1
            try:
                data = os.pread(fd, 8 * count, 8 * first)
            except OSError:
                out.append(False)
                continue
            if len(data) != 8 * count:
                out.append(False)
                continue
            out.append(b"\x01" not in data[7::8].translate(_TOUCHED))
    finally:
        os.close(fd)
    return out


def _has_children() -> bool:
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return True
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as fh:
                if fh.read().strip():
                    return True
        except OSError:
            return True
    return False


def buffer_address(view: memoryview) -> int:
    """Start address of a buffer's memory (the same in the worker and in a forked child)."""
    import ctypes

    if not view.readonly:
        return ctypes.addressof(ctypes.c_char.from_buffer(view))
    get, release, struct = _buffer_api()
    buf = struct()
    if get(view, ctypes.byref(buf), 0) != 0:  # PyBUF_SIMPLE
        raise BufferError("no buffer")
    try:
        return int(buf.buf or 0)
    finally:
        release(ctypes.byref(buf))


_API: tuple | None = None


def _buffer_api() -> tuple:
    """`PyObject_GetBuffer` through ctypes, for read-only buffers (built once)."""
    global _API
    if _API is None:
        import ctypes

        class PyBuffer(ctypes.Structure):
            _fields_ = [
                ("buf", ctypes.c_void_p),
                ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int),
                ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p),
                ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p),
            ]

        get = ctypes.pythonapi.PyObject_GetBuffer
        get.argtypes = [ctypes.py_object, ctypes.POINTER(PyBuffer), ctypes.c_int]
        release = ctypes.pythonapi.PyBuffer_Release
        release.argtypes = [ctypes.POINTER(PyBuffer)]
        _API = (get, release, PyBuffer)
    return _API
