/// rabbitmqctl takes its general options before the command name too (`-q list_users`); the
/// argument parser wants them after it, so they are moved there.
@main
enum Main {
    static let optionsWithValue: Set<String> = ["--data-dir", "--formatter", "-t", "--timeout", "-p", "--vhost"]
    static let flags: Set<String> = ["-q", "--quiet", "-s", "--silent", "--no-table-headers"]

    static func main() async {
        await WarrenctlCommand.main(commandFirst(Array(CommandLine.arguments.dropFirst())))
    }

    static func commandFirst(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if optionsWithValue.contains(word), index + 1 < arguments.count {
                leading += arguments[index...index + 1]
                index += 2
            } else if flags.contains(word) || optionsWithValue.contains(where: { word.hasPrefix($0 + "=") }) {
                leading.append(word)
                index += 1
            } else {
                break
            }
        }
        guard index < arguments.count else { return arguments }
        return [arguments[index]] + arguments[(index + 1)...] + leading
    }
}
