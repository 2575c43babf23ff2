/// Routes by dot-separated patterns: `*` matches exactly one word, `#` zero or more words.
/// Bindings are kept in a trie of words so routing cost follows the key's length, not the
/// number of bindings.
final class TopicExchange: Exchange, @unchecked Sendable {
    private final class Node {
        var children: [Substring: Node] = [:]
        var star: Node?
        var hash: Node?
        var destinations: [Destination] = []

        var isEmpty: Bool { children.isEmpty && star == nil && hash == nil && destinations.isEmpty }
    }

    private let root = Node()

    /// Splits a key into words as RabbitMQ does: "" has no words, "a." has two ("a" and "").
    static func words(_ key: String) -> [Substring] {
        key.isEmpty ? [] : key.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// A binding pattern's words, with runs of `#` collapsed into one (`#.#` matches exactly
    /// what `#` matches, and each extra `#` would multiply the matching work).
    static func patternWords(_ key: String) -> [Substring] {
        var result: [Substring] = []
        for word in words(key) where !(word == "#" && result.last == "#") { result.append(word) }
        return result
    }

    override func didBind(_ binding: Binding) {
        var node = root
        for word in Self.patternWords(binding.routingKey) {
            switch word {
            case "*":
                if node.star == nil { node.star = Node() }
                node = node.star!
            case "#":
                if node.hash == nil { node.hash = Node() }
                node = node.hash!
            default:
                if let next = node.children[word] {
                    node = next
                } else {
                    let next = Node()
                    node.children[word] = next
                    node = next
                }
            }
        }
        node.destinations.append(binding.destination)
    }

    override func didUnbind(_ binding: Binding) {
        remove(binding.destination, words: Self.patternWords(binding.routingKey)[...], from: root)
    }

    /// Removes one occurrence of `destination` at the end of `words`, pruning emptied nodes.
    private func remove(_ destination: Destination, words: ArraySlice<Substring>, from node: Node) {
        guard let word = words.first else {
            if let i = node.destinations.firstIndex(of: destination) { node.destinations.remove(at: i) }
            return
        }
        let rest = words.dropFirst()
        switch word {
        case "*":
            guard let next = node.star else { return }
            remove(destination, words: rest, from: next)
            if next.isEmpty { node.star = nil }
        case "#":
            guard let next = node.hash else { return }
            remove(destination, words: rest, from: next)
            if next.isEmpty { node.hash = nil }
        default:
            guard let next = node.children[word] else { return }
            remove(destination, words: rest, from: next)
            if next.isEmpty { node.children[word] = nil }
        }
    }

    override func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        let words = Self.words(routingKey)
        match(root, words, 0, &destinations)
    }

    private func match(_ node: Node, _ words: [Substring], _ i: Int, _ out: inout [Destination]) {
        if i == words.count {
            out.append(contentsOf: node.destinations)
        } else {
            if let next = node.children[words[i]] { match(next, words, i + 1, &out) }
            if let next = node.star { match(next, words, i + 1, &out) }
        }
        if let next = node.hash {
            // `#` swallows zero or more words.
            for j in i...words.count { match(next, words, j, &out) }
        }
    }
}
