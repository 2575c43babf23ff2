import CWarrenSupport

/// Gives memory freed after a burst (a long queue drained or deleted) back to the system.
public enum MemoryRelease {
    public static func releaseFreeMemory() {
        warren_release_free_memory()
    }

    /// Keeps the large read buffers of a loaded broker in the heap, so their pages are reused
    /// instead of mapped, faulted in and zeroed for every read.
    public static func keepLargeBuffersInHeap() {
        warren_keep_large_buffers_in_heap()
    }
}
