import NIOCore

extension AMQPMethod {
    /// Writes the class id, method id and arguments: a method frame's payload.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(classID)
        buffer.writeInteger(methodID)
        encodeArguments(into: &buffer)
    }

    /// Reads a class id, a method id and the arguments of that method.
    public static func decode(from buffer: inout ByteBuffer) throws(AMQPProtocolError) -> AMQPMethod {
        var cursor = buffer  // shares storage; only the reader index moves
        guard let classID = cursor.readInteger(as: UInt16.self), let methodID = cursor.readInteger(as: UInt16.self)
        else { throw AMQPProtocolError.syntaxError("truncated method: missing class or method id") }
        let method = try decode(classID: classID, methodID: methodID, arguments: &cursor)
        buffer.moveReaderIndex(to: cursor.readerIndex)
        return method
    }

    /// Decodes one method's arguments, re-throwing primitive errors as a syntax error that names
    /// the method, with the reader index restored.
    @inline(__always)
    static func decodeArguments<M: AMQPMethodArguments>(_ buffer: inout ByteBuffer) throws(AMQPProtocolError) -> M {
        let saved = buffer.readerIndex
        do throws(AMQPProtocolError) {
            return try M(arguments: &buffer)
        } catch {
            buffer.moveReaderIndex(to: saved)
            throw AMQPProtocolError.syntaxError(
                "malformed \(M.name) arguments: \(error.text)", classID: M.classID, methodID: M.methodID)
        }
    }
}
