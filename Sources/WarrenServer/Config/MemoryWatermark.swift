import WarrenControl

/// `vm_memory_high_watermark`: above this much resident memory, publishers are blocked. A
/// fraction of the memory available (`.relative`, RabbitMQ's default 0.4) or a number of bytes
/// (`.absolute`, never more than the memory available, as RabbitMQ caps it).
public enum MemoryWatermark: Sendable, Hashable, ExpressibleByFloatLiteral, CustomStringConvertible {
    case relative(Double)
    case absolute(UInt64)

    public static let `default` = MemoryWatermark.relative(0.4)

    public init(floatLiteral value: Double) {
        self = .relative(value)
    }

    /// The limit in bytes, given the memory available.
    public func limit(totalMemory: UInt64) -> UInt64 {
        switch self {
        case .relative(let fraction):
            let bytes = (Double(totalMemory) * max(fraction, 0)).rounded(.towardZero)
            return bytes >= Double(UInt64.max) ? UInt64.max : UInt64(bytes)
        case .absolute(let bytes):
            return min(bytes, totalMemory)
        }
    }

    /// Reads a `--vm-memory-high-watermark` value: a fraction from 0 to 1 (`0.4`, `1`), or bytes
    /// with an optional unit (`2000000000`, `1GB`, `512MiB`).
    public init?(parsing text: String) {
        if let fraction = Double(text), fraction.isFinite, (0...1).contains(fraction),
            text.first.map({ $0.isNumber }) == true
        {
            self = .relative(fraction)
        } else if let bytes = InformationUnit.bytes(text) {
            self = .absolute(UInt64(bytes))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .relative(let fraction): "\(fraction) of available memory"
        case .absolute(let bytes): "\(bytes) bytes"
        }
    }
}
