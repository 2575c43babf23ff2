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
    // their pages are reused. Free memory at the top of a heap is kept up to 8 MiB, so buffers
    // freed and allocated again do not go back and forth to the kernel. (Only free() trims the
    // top of a thread's arena; malloc_trim returns the free pages inside every arena.)
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif
}
