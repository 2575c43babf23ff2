import ArgumentParser

/// warrenctl: rabbitmqctl's commands for a Warren broker, over its control socket.
struct WarrenctlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warrenctl",
        abstract: "Manages a running Warren broker: users, vhosts, permissions, queues, definitions.",
        discussion: "Use 'warrenctl help <command>' to learn more about a specific command.",
        groupedSubcommands: [
            CommandGroup(
                name: "Users",
                subcommands: [
                    AddUser.self, AuthenticateUser.self, ChangePassword.self, ClearPassword.self, DeleteUser.self,
                    ListUsers.self, SetUserTags.self,
                ]),
            CommandGroup(
                name: "Access Control",
                subcommands: [
                    ClearPermissions.self, ClearTopicPermissions.self, ListPermissions.self,
                    ListTopicPermissions.self, ListUserPermissions.self, SetPermissions.self,
                    SetTopicPermissions.self,
                ]),
            CommandGroup(
                name: "Policies",
                subcommands: [
                    ClearOperatorPolicy.self, ClearPolicy.self, ListOperatorPolicies.self, ListPolicies.self,
                    SetOperatorPolicy.self, SetPolicy.self,
                ]),
            CommandGroup(
                name: "Parameters",
                subcommands: [
                    ClearGlobalParameter.self, ClearParameter.self, ListGlobalParameters.self, ListParameters.self,
                    SetGlobalParameter.self, SetParameter.self,
                ]),
            CommandGroup(name: "Virtual hosts", subcommands: [AddVhost.self, DeleteVhost.self, ListVhosts.self]),
            CommandGroup(
                name: "Monitoring, observability and health checks",
                subcommands: [
                    ListBindings.self, ListChannels.self, ListConnections.self, ListConsumers.self,
                    ListExchanges.self, ListQueues.self, Status.self,
                ]),
            CommandGroup(name: "Nodes", subcommands: [AwaitStartup.self]),
            CommandGroup(
                name: "Configuration and Environment",
                subcommands: [SetDiskFreeLimit.self, SetVmMemoryHighWatermark.self]),
            CommandGroup(name: "Definitions", subcommands: [ExportDefinitions.self, ImportDefinitions.self]),
            CommandGroup(name: "Operations", subcommands: [CloseConnection.self]),
            CommandGroup(name: "Queues", subcommands: [DeleteQueue.self, PurgeQueue.self]),
        ]
    )
}
