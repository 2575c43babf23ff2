import AMQPProtocol
import WarrenCore

/// Helpers for the broker's list results, so values print as rabbitmqctl prints them.
public enum ControlValue {
    /// Queue, exchange, binding and consumer arguments as rabbitmqctl's JSON shows them:
    /// `[["x-max-length","signedint",10],["x-queue-mode","longstr","lazy"]]`.
    public static func arguments(_ table: FieldTable) -> JSONValue {
        .array(table.entries.map { .array([.string($0.key), .string(typeName($0.value)), JSONValue($0.value)]) })
    }

    /// The names RabbitMQ gives field types.
    public static func typeName(_ value: FieldValue) -> String {
        switch value {
        case .boolean: "bool"
        case .int8: "byte"
        case .uint8: "unsignedbyte"
        case .int16: "short"
        case .uint16: "unsignedshort"
        case .int32: "signedint"
        case .uint32: "unsignedint"
        case .int64: "long"
        case .uint64: "unsignedlong"
        case .float: "float"
        case .double: "double"
        case .decimal: "decimal"
        case .longString: "longstr"
        case .array: "array"
        case .timestamp: "timestamp"
        case .table: "table"
        case .void: "void"
        case .byteArray: "binary"
        }
    }

    public static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
}
