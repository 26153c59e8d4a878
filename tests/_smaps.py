"""The /proc/self/smaps entry of the memory mapping that holds an array (Linux), for the tests of ``skxc._memory``."""

import numpy as np


def mapping_fields(a: np.ndarray) -> dict[str, list[str]] | None:
    """The smaps fields (name -> the words after it, e.g. ``"Rss"`` -> ``["4096", "kB"]``, ``"VmFlags"`` -> its
    flags) of the mapping that holds ``a``'s first byte, or None if no mapping holds it."""
    address = a.__array_interface__["data"][0]
    fields, inside = None, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                if inside:
                    return fields
                lo, hi = (int(part, 16) for part in head.split("-"))
                inside = lo <= address < hi
                fields = {} if inside else None
            elif inside:
                fields[head.rstrip(":")] = line.split()[1:]
    return fields
