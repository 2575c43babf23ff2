import CWarrenSupport

/// CRC-32C (Castagnoli): the checksum of every stored message record, computed with the CPU's
/// crc32 instruction where there is one (see CWarrenSupport), so start-up can check them all.
public enum CRC32C {
    /// Continues a checksum over more bytes (start with 0).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return warren_crc32c(crc, base, bytes.count)
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update(0, $0) }
    }
}
