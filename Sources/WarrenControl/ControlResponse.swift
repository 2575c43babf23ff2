import WarrenCore

/// The broker's answer to one `ControlRequest`, as one line of JSON. Success carries at most one
/// of `text` (printed as is), `table` (printed as a table or JSON by warrenctl) or `document`
/// (JSON, e.g. exported definitions); failure carries the message and warrenctl's exit status.
///
///     {"ok":true,"table":{"columns":["user","tags"],"rows":[["guest",["administrator"]]]}}
///     {"ok":false,"error":"User \"x\" does not exist","exit_status":67}
public struct ControlResponse: Sendable, Hashable, Codable {
    public var ok: Bool
    public var text: String?
    public var table: ControlTable?
    public var document: JSONValue?
    public var error: String?
    public var exitStatus: Int32?

    enum CodingKeys: String, CodingKey {
        case ok, text, table, document, error
        case exitStatus = "exit_status"
    }

    public init(
        ok: Bool, text: String? = nil, table: ControlTable? = nil, document: JSONValue? = nil, error: String? = nil,
        exitStatus: Int32? = nil
    ) {
        self.ok = ok
        self.text = text
        self.table = table
        self.document = document
        self.error = error
        self.exitStatus = exitStatus
    }

    public static let done = ControlResponse(ok: true)

    public static func text(_ text: String) -> ControlResponse { ControlResponse(ok: true, text: text) }

    public static func table(_ table: ControlTable) -> ControlResponse { ControlResponse(ok: true, table: table) }

    public static func document(_ document: JSONValue) -> ControlResponse {
        ControlResponse(ok: true, document: document)
    }

    public static func failure(_ message: String, _ status: ControlExitStatus = .software) -> ControlResponse {
        ControlResponse(ok: false, error: message, exitStatus: status.rawValue)
    }
}
