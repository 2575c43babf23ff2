import NIOCore

/// What every method struct (`BasicPublish`, `QueueDeclareOk`, ...) provides: its ids and name,
/// and the coding of its arguments.
public protocol AMQPMethodArguments: Sendable, Equatable {
    static var classID: UInt16 { get }
    static var methodID: UInt16 { get }
    /// The spec name, such as "basic.publish".
    static var name: String { get }

    /// Decodes the arguments (the method frame payload after the class and method ids). Errors
    /// are the primitives' own; `AMQPMethod.decode` re-throws them naming the method.
    init(arguments buffer: inout ByteBuffer) throws(AMQPProtocolError)

    /// Writes the arguments only.
    func encodeArguments(into buffer: inout ByteBuffer)
}

extension AMQPMethodArguments {
    /// Writes the class id, method id and arguments: a method frame's payload.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.classID)
        buffer.writeInteger(Self.methodID)
        encodeArguments(into: &buffer)
    }
}
