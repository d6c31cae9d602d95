"""A minimal GGUF reader for the reference models: metadata and F32/F16 tensors as numpy arrays.

Written from the GGUF specification (little-endian, version 3), independent of hearth's C++ reader.
"""
import struct

import numpy as np

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_TENSOR_DTYPES = {0: np.float32, 1: np.float16}


class GGUF:
    def __init__(self, path):
        with open(path, "rb") as f:
            self._data = f.read()
        self._pos = 0
        if self._take(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        (self.version,) = self._unpack("<I")
        n_tensors, n_kv = self._unpack("<QQ")
        self.metadata = {}
        for _ in range(n_kv):
            key = self._string()
            (value_type,) = self._unpack("<I")
            self.metadata[key] = self._value(value_type)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            (n_dims,) = self._unpack("<I")
            dims = self._unpack("<" + "Q" * n_dims)
            tensor_type, offset = self._unpack("<IQ")
            infos.append((name, dims, tensor_type, offset))
        alignment = self.metadata.get("general.alignment", 32)
        data_start = (self._pos + alignment - 1) // alignment * alignment
        self.tensors = {}
        for name, dims, tensor_type, offset in infos:
            if tensor_type not in _TENSOR_DTYPES:
                raise ValueError(f"tensor {name}: type {tensor_type} is not F32/F16")
            count = int(np.prod(dims))
            array = np.frombuffer(self._data, dtype=_TENSOR_DTYPES[tensor_type], count=count,
                                  offset=data_start + offset)
            # GGUF lists the innermost dimension first; numpy wants it last.
            self.tensors[name] = array.reshape(tuple(reversed(dims))).astype(np.float64)

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def _take(self, n):
        out = self._data[self._pos:self._pos + n]
        self._pos += n
        return out

    def _unpack(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self._take(size))

    def _string(self):
        (n,) = self._unpack("<Q")
        return self._take(n).decode("utf-8")

    def _value(self, value_type):
        if value_type in _SCALARS:
            return self._unpack(_SCALARS[value_type])[0]
        if value_type == _STRING:
            return self._string()
        if value_type == _ARRAY:
            element_type, n = self._unpack("<IQ")
            return [self._value(element_type) for _ in range(n)]
        raise ValueError(f"unknown GGUF value type {value_type}")
