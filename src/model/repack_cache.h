#pragma once
// The repacked weights (kernels/repack.h) in a cache file that every process serving a model
// maps read-only and shared: N processes hold one copy of the pages instead of N private ones,
// and a restart maps the file instead of repacking.
//
// Places, in order (repack_cache_paths): `<model file>.hearth-repack-<level>` beside the model,
// then `$XDG_CACHE_HOME/hearth/repack` (else ~/.cache/hearth/repack); a folder given with
// `--repack-cache DIR` or HEARTH_REPACK_CACHE=DIR replaces both, and `off` keeps the copies
// private. The first valid file among the places is used; otherwise one is built in the first
// place that can be written.
//
// A file is valid for one model and one CPU level: its header holds the model's identity
// (Model::identity(): header, tensor names, first bytes of each tensor), a stamp of the model
// files' sizes and modification times, the SIMD level, the repacked layout's version
// (kernels::kRepackLayoutVersion) and, per matrix, its source tensor, offset, type, shape and
// packed block size. A file that is truncated, fails a checksum, or matches another model or
// level is ignored with a warning and rebuilt. Files are written whole under a temporary name,
// fsynced and renamed into place (readers never see half a file), with the folder locked
// (flock) so processes starting together repack once.
//
// File format (native byte order, version 1):
//   Header (72 bytes: magic "HEARTHRW", format and layout versions, CPU level, entry count,
//   model identity and stamp, data offset, file size, checksum chunk size, and a hash64 of all
//   that, the index and the chunk checksums),
//   the index (one Entry per repacked matrix, in Model's order),
//   the chunk checksums (hash64 of each chunk_bytes of the data region),
//   padding to 2 MiB, then the data region: each matrix's repacked copy, 64-byte aligned.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "gguf/reader.h"
#include "kernels/cpu.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_matrix.h"

namespace hearth::model {

// What a cache file must have been built for.
struct RepackCacheKey {
    uint64_t model_identity = 0;  // Model::identity()
    uint64_t model_stamp = 0;     // repack_cache_stamp()
    kernels::CpuLevel level = kernels::CpuLevel::Scalar;
};

// The sizes and modification times of the model's files (every part of a split model): a
// model replaced by another with the same header and first bytes still changes it.
uint64_t repack_cache_stamp(const gguf::File& file);

// The cache files to look at for the model at `model_path`, in order (empty: caching is off).
// `setting`: "" (HEARTH_REPACK_CACHE when set, else the default places), a folder, or "off".
std::vector<std::string> repack_cache_paths(const std::string& model_path, kernels::CpuLevel level,
                                            const std::string& setting);

// The cache files beside the model at `model_path` (of every CPU level), for deleting them
// with the model. Files in shared cache folders stay (they are safe to delete at any time).
std::vector<std::string> repack_caches_beside(const std::string& model_path);

class RepackCache {
  public:
    // Maps the file at `path` when it is a valid cache of `matrices` (the matrices to repack,
    // in order, from `file`) for `key`. Otherwise returns null with the reason in `why` (empty
    // when there is no file). Checks every byte against the chunk checksums, on `pool`.
    static std::unique_ptr<RepackCache> open(const std::string& path, const gguf::File& file,
                                             const RepackCacheKey& key,
                                             std::span<const kernels::WeightMatrix* const> matrices,
                                             kernels::ThreadPool& pool, std::string& why);
    // Repacks `matrices` into a new file at `path` (a temporary file beside it, fsync, rename;
    // an older file there is replaced). Throws hearth::Error when it cannot be written.
    static void build(const std::string& path, const gguf::File& file, const RepackCacheKey& key,
                      std::span<const kernels::WeightMatrix* const> matrices,
                      kernels::ThreadPool& pool);

    const std::string& path() const { return file_.path(); }
    // The repacked copy of matrices[i].
    const uint8_t* copy(size_t i) const { return file_.data() + copies_[i]; }
    // The mapped bytes of all the copies (what `mlock: true` locks).
    std::pair<const uint8_t*, size_t> copies_range() const;

  private:
    explicit RepackCache(const std::string& path) : file_(path) {}
    MappedFile file_;
    std::vector<uint64_t> copies_;  // offsets of the copies in the file
    uint64_t data_offset_ = 0;
};

// The policy above: the first valid cache among the places, else one built in the first place
// that can be written. Null when caching is off or nothing could be written (a warning says
// why): the caller then repacks into private memory.
std::shared_ptr<const RepackCache> open_repack_cache(
    const gguf::File& file, const RepackCacheKey& key,
    std::span<const kernels::WeightMatrix* const> matrices, const std::string& setting,
    kernels::ThreadPool& pool);

}  // namespace hearth::model
