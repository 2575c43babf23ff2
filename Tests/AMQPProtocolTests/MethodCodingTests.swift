import AMQPProtocol
import NIOCore
import Testing

@Suite("Methods")
struct MethodCodingTests {
    static let classIDs: [UInt16] = [10, 20, 40, 50, 60, 85, 90]

    @Test("every method round-trips with non-default values in every field", arguments: MethodSamples.all)
    func roundTrip(method: AMQPMethod) throws {
        var buffer = ByteBuffer()
        method.encode(into: &buffer)
        #expect(buffer.getInteger(at: 0, as: UInt16.self) == method.classID)
        #expect(buffer.getInteger(at: 2, as: UInt16.self) == method.methodID)
        let decoded = try AMQPMethod.decode(from: &buffer)
        #expect(decoded == method)
        #expect(buffer.readableBytes == 0)
        #expect(AMQPMethod.name(classID: method.classID, methodID: method.methodID) == method.name)
    }

    @Test("the samples cover all 64 methods, and every other id is unknown")
    func coverage() {
        var known: Set<String> = []
        for classID in Self.classIDs + [0, 30, 100] {
            for methodID in UInt16(0)...200 {
                if let name = AMQPMethod.name(classID: classID, methodID: methodID) { known.insert(name) }
            }
        }
        #expect(known.count == 64)
        #expect(Set(MethodSamples.all.map(\.name)) == known)
    }

    @Test("truncated arguments are a syntax error naming the method, consuming nothing", arguments: MethodSamples.all)
    func truncatedArguments(method: AMQPMethod) {
        var full = ByteBuffer()
        method.encodeArguments(into: &full)
        let bytes = full.readableBytesArray
        for length in 0..<bytes.count {
            var arguments = ByteBuffer(bytes: bytes[0..<length])
            let error = capturedError {
                try AMQPMethod.decode(classID: method.classID, methodID: method.methodID, arguments: &arguments)
            }
            #expect(error?.replyCode == ReplyCode.syntaxError)
            #expect(error?.text.contains(method.name) == true)
            #expect(error?.classID == method.classID)
            #expect(error?.methodID == method.methodID)
            #expect(arguments.readerIndex == 0)
        }
    }

    @Test("an unknown class or method is not-implemented (540)")
    func unknownMethod() {
        var empty = ByteBuffer()
        let error = capturedError { try AMQPMethod.decode(classID: 60, methodID: 99, arguments: &empty) }
        #expect(error == .notImplemented("unknown method 60/99", classID: 60, methodID: 99))
        #expect(capturedError { try AMQPMethod.decode(classID: 30, methodID: 10, arguments: &empty) }?.replyCode == 540)
    }

    @Test("queue.declare packs passive..no-wait into one octet, least significant bit first")
    func queueDeclareBits() throws {
        let method = AMQPMethod.queueDeclare(QueueDeclare(queue: "q", durable: true, autoDelete: true))
        let bytes = encoded { method.encode(into: &$0) }
        // class 50, method 10, reserved short, "q", bits durable(0x02)|auto-delete(0x08), empty table
        #expect(bytes.hex == "0032" + "000a" + "0000" + "0171" + "0a" + "00000000")
    }

    @Test("basic.nack packs multiple and requeue into one octet")
    func basicNackBits() {
        let both = encoded {
            AMQPMethod.basicNack(BasicNack(deliveryTag: 5, multiple: true, requeue: true)).encode(into: &$0)
        }
        #expect(both.hex == "003c" + "0078" + "0000000000000005" + "03")
        let requeueOnly = encoded { BasicNack(deliveryTag: 5, requeue: true).encode(into: &$0) }
        #expect(requeueOnly.hex == "003c" + "0078" + "0000000000000005" + "02")
    }

    @Test("exchange.declare, basic.consume and basic.deliver match hand-computed bytes")
    func otherHandComputed() throws {
        let declare = ExchangeDeclare(exchange: "x", type: "topic", passive: true, internal: true, noWait: true)
        #expect(
            encoded { declare.encode(into: &$0) }.hex
                == "0028" + "000a" + "0000" + "0178" + "05746f706963" + "19" + "00000000")
        let consume = BasicConsume(queue: "q", consumerTag: "c", noAck: true, noWait: true, arguments: ["a": .void])
        #expect(
            encoded { consume.encode(into: &$0) }.hex
                == "003c" + "0014" + "0000" + "0171" + "0163" + "0a" + "00000003016156")
        let deliver = BasicDeliver(consumerTag: "ct", deliveryTag: 1, redelivered: true, exchange: "", routingKey: "rk")
        #expect(
            encoded { deliver.encode(into: &$0) }.hex
                == "003c" + "003c" + "026374" + "0000000000000001" + "01" + "00" + "02726b")
        let open = ConnectionOpen(virtualHost: "/")
        #expect(encoded { open.encode(into: &$0) }.hex == "000a" + "0028" + "012f" + "00" + "00")
        let qos = BasicQos(prefetchSize: 0, prefetchCount: 10, global: true)
        #expect(encoded { qos.encode(into: &$0) }.hex == "003c" + "000a" + "00000000" + "000a" + "01")
    }

    @Test("reserved fields are skipped when decoding, whatever they hold")
    func reservedFieldsSkipped() throws {
        // connection.open with capabilities "cap" and insist set; basic.publish with ticket 7.
        var open = ByteBuffer(hex: "012f" + "03636170" + "01")
        #expect(
            try AMQPMethod.decode(classID: 10, methodID: 40, arguments: &open)
                == .connectionOpen(.init(virtualHost: "/")))
        var publish = ByteBuffer(hex: "0007" + "0178" + "00" + "03")
        #expect(
            try AMQPMethod.decode(classID: 60, methodID: 40, arguments: &publish)
                == .basicPublish(.init(exchange: "x", routingKey: "", mandatory: true, immediate: true)))
        var openOk = ByteBuffer(hex: "00000002" + "6869")  // channel.open-ok's reserved long string
        #expect(try AMQPMethod.decode(classID: 20, methodID: 11, arguments: &openOk) == .channelOpenOk(.init()))
    }

    @Test("hasContent is true exactly for publish, return, deliver and get-ok")
    func hasContent() {
        let withContent = MethodSamples.all.filter(\.hasContent).map(\.name)
        #expect(Set(withContent) == ["basic.publish", "basic.return", "basic.deliver", "basic.get-ok"])
    }

    @Test("method structs expose their ids and names")
    func structMetadata() {
        #expect(BasicPublish.classID == 60 && BasicPublish.methodID == 40 && BasicPublish.name == "basic.publish")
        #expect(ConnectionUpdateSecretOk.name == "connection.update-secret-ok")
        #expect(AMQPMethod.txRollbackOk(.init()).name == "tx.rollback-ok")
        #expect(AMQPMethod.confirmSelect(.init(noWait: true)).classID == 85)
    }

    @Test("reply codes have their spec names and soft/hard classes")
    func replyCodes() {
        #expect(ReplyCode.name(ReplyCode.notFound) == "NOT_FOUND")
        #expect(ReplyCode.name(ReplyCode.preconditionFailed) == "PRECONDITION_FAILED")
        #expect(ReplyCode.name(541) == "INTERNAL_ERROR")
        #expect(ReplyCode.name(999) == "UNKNOWN")
        #expect(ReplyCode.isSoftError(ReplyCode.notFound))
        #expect(!ReplyCode.isSoftError(ReplyCode.frameError))
        let error = AMQPProtocolError.syntaxError("bad", classID: 60, methodID: 40)
        #expect(error.replyCode == 502 && error.replyText == "SYNTAX_ERROR - bad")
        #expect(AMQPProtocolError.frameError("x").replyCode == 501)
        #expect(AMQPProtocolError.commandInvalid("x").replyCode == 503)
        #expect(AMQPProtocolError.notImplemented("x", classID: 1, methodID: 2).replyCode == 540)
    }
}
