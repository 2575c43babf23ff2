import AMQPProtocol
import NIOCore
import Testing

/// Tables encoded by pika's and py-amqp's own encoders (scripts/gen-fieldtable-fixtures.py).
@Suite("Field tables against reference encoders")
struct ReferenceTableTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var library: String
            var hex: String
            var table: DescribedFieldTable
        }
        var cases: [Case]
    }

    @Test("tables from pika and py-amqp decode to the described values and re-encode byte for byte")
    func referenceTables() throws {
        let fixture = try Fixtures.load("reference-tables.json", as: Fixture.self)
        #expect(fixture.cases.count >= 300)
        #expect(Set(fixture.cases.map(\.library)) == ["pika", "amqp"])
        for (index, reference) in fixture.cases.enumerated() {
            var buffer = ByteBuffer(hex: reference.hex)
            let decoded = try buffer.readFieldTable()
            #expect(buffer.readableBytes == 0, "case \(index)")
            #expect(identical(decoded, reference.table.table), "case \(index) (\(reference.library))")
            #expect(encoded { $0.writeFieldTable(decoded) }.hex == reference.hex, "case \(index)")
        }
    }
}
