#ifndef CWARREN_SUPPORT_H
#define CWARREN_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (start with 0). Uses the CPU's
/// crc32 instruction where there is one.
uint32_t warren_crc32c(uint32_t crc, const void *bytes, size_t length);

/// Returns memory the allocator holds but no longer uses to the operating system (glibc's
/// malloc_trim); does nothing elsewhere.
void warren_release_free_memory(void);

/// The free memory glibc keeps at the top of a heap under load (see warren_keep_large_buffers_in_heap).
#define WARREN_TRIM_THRESHOLD 8388608 /* 8 MiB */

/// Sets how much free memory at the top of a heap glibc keeps before giving it back (mallopt's
/// M_TRIM_THRESHOLD); does nothing elsewhere.
void warren_set_trim_threshold(size_t bytes);

/// Makes glibc give back the free top of the calling thread's arena beyond the trim threshold
/// (only free() does that: one 128 KiB block is allocated and freed); does nothing elsewhere.
void warren_trim_this_threads_arena(void);

/// Serves allocations of up to 4 MiB from the heap rather than from fresh mappings, and trims
/// a heap's top only past 8 MiB (glibc's mallopt); does nothing elsewhere.
void warren_keep_large_buffers_in_heap(void);

#endif
