import Foundation

/// A compiled permission regex with RabbitMQ's rules: the pattern is searched for anywhere in the
/// name (`re:run` without anchors; use `^` and `$` to anchor), and the empty pattern is `^$`,
/// which matches only the empty name and so, in practice, nothing.
public struct ResourcePattern: Sendable {
    public let source: String
    private let matcher: Matcher

    private enum Matcher: @unchecked Sendable {
        case everything
        case onlyEmpty
        // NSRegularExpression is immutable and documented as safe to share between threads.
        case regex(NSRegularExpression)
    }

    /// Throws `UserDatabaseError.invalidPattern` when `source` is not a valid regular expression.
    public init(_ source: String) throws(UserDatabaseError) {
        self.source = source
        switch source {
        case "": matcher = .onlyEmpty
        case ".*": matcher = .everything
        default:
            do {
                matcher = .regex(try NSRegularExpression(pattern: Self.literalBraces(source)))
            } catch {
                throw .invalidPattern(source)
            }
        }
    }

    /// RabbitMQ's regexes are PCRE's, where a `{` that does not open a `{n}`, `{n,}` or `{n,m}`
    /// quantifier is an ordinary character (`^{username}\.` in topic permissions); the regex
    /// engine here rejects those, so they are escaped first.
    static func literalBraces(_ pattern: String) -> String {
        let characters = Array(pattern)
        var result = ""
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == "\\", index + 1 < characters.count {
                result.append(character)
                result.append(characters[index + 1])
                index += 2
                continue
            }
            if character == "{", let close = quantifierEnd(characters, at: index) {
                result += String(characters[index...close])
                index = close + 1
                continue
            }
            if character == "{" || character == "}" {
                result += "\\" + String(character)
            } else {
                result.append(character)
            }
            index += 1
        }
        return result
    }

    /// The index of the `}` closing a quantifier opened at `start`, or nil.
    private static func quantifierEnd(_ characters: [Character], at start: Int) -> Int? {
        guard let close = characters[(start + 1)...].firstIndex(of: "}") else { return nil }
        let body = String(characters[(start + 1)..<close])
        let parts = body.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty, first.allSatisfy(\.isASCII), first.allSatisfy(\.isNumber),
            parts.count == 1 || parts[1].allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        return close
    }

    public func matches(_ name: String) -> Bool {
        switch matcher {
        case .everything: return true
        case .onlyEmpty: return name.isEmpty
        case .regex(let regex):
            let range = NSRange(name.startIndex..<name.endIndex, in: name)
            return regex.firstMatch(in: name, range: range) != nil
        }
    }
}
