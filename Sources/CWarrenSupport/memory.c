#include "CWarrenSupport.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void warren_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void warren_set_trim_threshold(size_t bytes) {
#if defined(__GLIBC__)
    mallopt(M_TRIM_THRESHOLD, (int)bytes);
#endif
}

void warren_trim_this_threads_arena(void) {
#if defined(__GLIBC__)
    // glibc gives back the free top of a thread's arena only from free(), when a chunk of 64 KiB
    // or more is freed and the top exceeds the trim threshold; malloc_trim leaves it alone.
    void *chunk = malloc(128 * 1024);
    if (chunk) {
        ((volatile char *)chunk)[0] = 0;
        free(chunk);
    }
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
    mallopt(M_TRIM_THRESHOLD, WARREN_TRIM_THRESHOLD);
#endif
}
