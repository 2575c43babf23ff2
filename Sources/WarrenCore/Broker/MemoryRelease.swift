import CWarrenSupport

/// Gives memory freed after a burst (a long queue drained or deleted) back to the system.
public enum MemoryRelease {
    public static func releaseFreeMemory() {
        warren_release_free_memory()
    }
}
