import CWarrenSupport

/// Gives memory freed after a burst (a long queue drained or deleted) back to the system.
public enum MemoryRelease {
    public static func releaseFreeMemory() {
        warren_release_free_memory()
    }

    /// While it runs, the free top of each thread's arena is kept only up to 256 KiB instead of
    /// 8 MiB: between the two calls, each thread that allocates (the event loops) should call
    /// `trimThisThreadsArena`. Keeping 8 MiB saves page faults under load; an idle broker with
    /// two loops' arenas full of freed read buffers would keep 16 MiB for nothing.
    public static func lowerTrimThreshold() {
        warren_set_trim_threshold(256 * 1024)
    }

    public static func restoreTrimThreshold() {
        warren_set_trim_threshold(Int(WARREN_TRIM_THRESHOLD))
    }

    /// Gives back the free top of the calling thread's arena beyond the trim threshold.
    public static func trimThisThreadsArena() {
        warren_trim_this_threads_arena()
    }

    /// Keeps the large read buffers of a loaded broker in the heap, so their pages are reused
    /// instead of mapped, faulted in and zeroed for every read.
    public static func keepLargeBuffersInHeap() {
        warren_keep_large_buffers_in_heap()
    }
}
