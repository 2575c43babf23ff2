import ArgumentParser
import WarrenControl

struct AddUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add_user",
        abstract:
            "Creates a new user in the internal database. This user will have no permissions for any virtual hosts by default."
    )
    @OptionGroup var options: ControlOptions
    @Argument(help: "Self-explanatory") var username: String
    @Argument(help: "Password the created user will use; read from standard input when left out.")
    var password: String?

    func run() async throws {
        if options.informs { print("Adding user \"\(username)\" ...") }
        let password = try passwordArgument(password)
        try await BrokerCall(options: options).send(ControlRequest(command: "add_user", args: [username, password]))
        if options.informs {
            print(
                "Done. Don't forget to grant the user permissions to some virtual hosts! See 'warrenctl help set_permissions' to learn more."
            )
        }
    }
}

struct DeleteUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete_user", abstract: "Removes a user from the internal database.")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Name of the user to delete.") var username: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "delete_user", args: [username]), inform: "Deleting user \"\(username)\" ...")
    }
}

struct ChangePassword: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "change_password", abstract: "Changes the user password")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Name of the user whose password should be changed.") var username: String
    @Argument(help: "New password to set; read from standard input when left out.") var newPassword: String?

    func run() async throws {
        if options.informs { print("Changing password for user \"\(username)\" ...") }
        let password = try passwordArgument(newPassword)
        try await BrokerCall(options: options).run(
            ControlRequest(command: "change_password", args: [username, password]))
    }
}

struct ClearPassword: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_password",
        abstract: "Clears (resets) password and disables password login for a user")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Name of the user whose password should be cleared.") var username: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "clear_password", args: [username]),
            inform: "Clearing password for user \"\(username)\" ...")
    }
}

struct AuthenticateUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authenticate_user",
        abstract: "Attempts to authenticate a user. Exits with a non-zero code if authentication fails.")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Username to authenticate") var username: String
    @Argument(help: "Password to use; read from standard input when left out.") var password: String?

    func run() async throws {
        if options.informs { print("Authenticating user \"\(username)\" ...") }
        let password = try passwordArgument(password)
        try await BrokerCall(options: options).run(
            ControlRequest(command: "authenticate_user", args: [username, password]))
    }
}

struct SetUserTags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set_user_tags", abstract: "Sets user tags")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Self-explanatory") var username: String
    @Argument(help: "Space separated list of tags; none to clear them.") var tags: [String] = []

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "set_user_tags", args: [username] + tags),
            inform: "Setting tags for user \"\(username)\" to [\(tags.joined(separator: ", "))] ...")
    }
}

struct ListUsers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list_users", abstract: "List user names and tags")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        try await BrokerCall(options: options).run(ControlRequest(command: "list_users"), inform: "Listing users ...")
    }
}
