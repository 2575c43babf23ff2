#include "CWarrenSupport.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void warren_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void warren_keep_large_buffers_in_heap(void) {
#if defined(__GLIBC__)
    // Read buffers of up to 256 KiB are allocated and freed all the time under load; served by
    // mmap (glibc's default above 128 KiB) every one costs page faults and zeroing. From the heap
    // their pages are reused; free memory at the top of the heap is left alone up to 64 MiB
    // (the broker's periodic malloc_trim returns it once the load is over).
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}
