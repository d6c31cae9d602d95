"""A minimal GGUF reader for the reference models: metadata, and tensors as float64 numpy arrays.

Written from the GGUF specification (little-endian, version 3), independent of hearth's C++ reader.
F32 and F16 tensors are read as they are; Q8_0, Q4_K, Q6_K and MXFP4 blocks are dequantized here
from the published block layouts (ggml's block_q8_0, block_q4_K, block_q6_K, block_mxfp4 with the
OCP Microscaling spec's E2M1 and E8M0 encodings), not with hearth's kernels.
"""
import struct

import numpy as np

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
F32, F16, Q8_0, Q4_K, Q6_K, MXFP4 = 0, 1, 8, 12, 14, 39
TYPE_NAMES = {F32: "F32", F16: "F16", Q8_0: "Q8_0", Q4_K: "Q4_K", Q6_K: "Q6_K", MXFP4: "MXFP4"}


def _f16(raw):
    """Little-endian half floats from a (blocks, 2) byte array, as (blocks, 1) float64."""
    return np.ascontiguousarray(raw).view("<f2").astype(np.float64)


def dequantize_q8_0(raw):
    """block_q8_0, 34 bytes per 32 values: d (f16), then 32 int8 q; x = d * q."""
    blocks = raw.reshape(-1, 34)
    q = np.ascontiguousarray(blocks[:, 2:]).view(np.int8).astype(np.float64)
    return (_f16(blocks[:, :2]) * q).reshape(-1)


def q4_k_scales_mins(packed):
    """The 12 scale bytes of block_q4_K -> 6-bit (scales, mins) of the 8 sub-blocks, each (blocks, 8).
    Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins). Sub-blocks 4-7: low / high
    nibble of bytes 8-11, plus the top 2 bits of bytes 0-3 (scales) and 4-7 (mins) as bits 4-5."""
    scales = np.concatenate([packed[:, 0:4] & 63, (packed[:, 8:12] & 15) | ((packed[:, 0:4] >> 6) << 4)], axis=1)
    mins = np.concatenate([packed[:, 4:8] & 63, (packed[:, 8:12] >> 4) | ((packed[:, 4:8] >> 6) << 4)], axis=1)
    return scales.astype(np.float64), mins.astype(np.float64)


def q4_k_quants(qs):
    """128 bytes -> (blocks, 8, 32) 4-bit values: 4 groups of 32 bytes, the low nibbles holding
    sub-block 2g and the high nibbles sub-block 2g + 1."""
    groups = qs.reshape(-1, 4, 32)
    return np.stack([groups & 15, groups >> 4], axis=2).reshape(-1, 8, 32).astype(np.float64)


def dequantize_q4_k(raw):
    """block_q4_K, 144 bytes per 256 values: d, dmin (f16), 12 bytes of packed 6-bit scales and
    mins, 128 bytes of 4-bit quants; value = d * scale * q - dmin * min per 32-value sub-block."""
    blocks = raw.reshape(-1, 144)
    d, dmin = _f16(blocks[:, 0:2])[:, :, None], _f16(blocks[:, 2:4])[:, :, None]
    scales, mins = q4_k_scales_mins(blocks[:, 4:16])
    q = q4_k_quants(blocks[:, 16:144])
    return (d * scales[:, :, None] * q - dmin * mins[:, :, None]).reshape(-1)


def q6_k_quants(ql, qh):
    """ql (blocks, 128), qh (blocks, 64) -> (blocks, 256) 6-bit values minus 32. Each half of 128
    values takes 64 ql bytes and 32 qh bytes: values 0-31 low nibbles of ql[0:32], 32-63 low
    nibbles of ql[32:64], 64-95 and 96-127 their high nibbles; qh bit pairs 0-1, 2-3, 4-5, 6-7
    of qh[0:32] are the top 2 bits of those four runs."""
    ql = ql.reshape(-1, 2, 64)
    qh = qh.reshape(-1, 2, 32)
    low = np.concatenate([ql[..., :32] & 15, ql[..., 32:] & 15, ql[..., :32] >> 4, ql[..., 32:] >> 4], axis=-1)
    high = np.concatenate([qh & 3, (qh >> 2) & 3, (qh >> 4) & 3, (qh >> 6) & 3], axis=-1)
    return (low.astype(np.int64) | (high.astype(np.int64) << 4)).reshape(-1, 256) - 32


def q6_k_scales(raw):
    """16 int8 scales -> one per value (blocks, 256): scale k covers values 16k .. 16k + 15."""
    return np.repeat(np.ascontiguousarray(raw).view(np.int8).astype(np.float64), 16, axis=1)


def dequantize_q6_k(raw):
    """block_q6_K, 210 bytes per 256 values: ql (128), qh (64), 16 int8 scales, d (f16);
    value = d * scale * (q - 32) per 16-value sub-block."""
    blocks = raw.reshape(-1, 210)
    q = q6_k_quants(blocks[:, 0:128], blocks[:, 128:192])
    return (_f16(blocks[:, 208:210]) * q6_k_scales(blocks[:, 192:208]) * q).reshape(-1)


def e2m1(codes):
    """4-bit E2M1 codes -> values: sign bit 3, exponent bits 1-2 (bias 1), mantissa bit 0;
    exponent 0 is subnormal (0 or 0.5)."""
    codes = codes.astype(np.int64)
    sign = np.where(codes & 8, -1.0, 1.0)
    exponent, mantissa = (codes >> 1) & 3, codes & 1
    magnitude = np.where(exponent == 0, 0.5 * mantissa, np.ldexp(1.0 + 0.5 * mantissa, exponent - 1))
    return sign * magnitude


def mxfp4_codes(qs):
    """16 bytes -> 32 codes: the low nibbles are elements 0-15, the high nibbles 16-31."""
    return np.concatenate([qs & 15, qs >> 4], axis=1)


def dequantize_mxfp4(raw):
    """block_mxfp4, 17 bytes per 32 values: an E8M0 exponent byte e, then 16 bytes of E2M1
    codes; value = 2^(e - 127) * E2M1(code)."""
    blocks = raw.reshape(-1, 17)
    scale = np.ldexp(1.0, blocks[:, :1].astype(np.int64) - 127)
    return (scale * e2m1(mxfp4_codes(blocks[:, 1:]))).reshape(-1)


# type: (values per block, bytes per block, dequantize(uint8 array) -> float64 values). The
# lambdas look the functions up when called, so check_arch.py can swap in a broken one.
_BLOCK_TYPES = {
    F32: (1, 4, lambda raw: raw.view("<f4").astype(np.float64)),
    F16: (1, 2, lambda raw: raw.view("<f2").astype(np.float64)),
    Q8_0: (32, 34, lambda raw: dequantize_q8_0(raw)),
    Q4_K: (256, 144, lambda raw: dequantize_q4_k(raw)),
    Q6_K: (256, 210, lambda raw: dequantize_q6_k(raw)),
    MXFP4: (32, 17, lambda raw: dequantize_mxfp4(raw)),
}


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
        self.types = {}
        for name, dims, tensor_type, offset in infos:
            if tensor_type not in _BLOCK_TYPES:
                raise ValueError(f"tensor {name}: type {tensor_type} is not one of {sorted(TYPE_NAMES.values())}")
            block_values, block_bytes, dequantize = _BLOCK_TYPES[tensor_type]
            count = int(np.prod(dims))
            raw = np.frombuffer(self._data, dtype=np.uint8, count=count // block_values * block_bytes,
                                offset=data_start + offset)
            values = dequantize(raw)
            # GGUF lists the innermost dimension first; numpy wants it last.
            self.tensors[name] = values.reshape(tuple(reversed(dims)))
            self.types[name] = TYPE_NAMES[tensor_type]

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
