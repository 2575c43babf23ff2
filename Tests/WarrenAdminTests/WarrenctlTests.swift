import Foundation
import Testing
import WarrenControl
import WarrenCore

/// The real warrenctl binary against a ControlServer in this process, checking what a user sees.
@Suite(.serialized) struct WarrenctlTests {
    func withBroker(
        _ database: UserDatabase = .seeded(), _ body: (ControlHarness, UserDatabaseCommandHandler) async throws -> Void
    ) async throws {
        let users = UserDatabaseCommandHandler(database: database)
        let harness = try await ControlHarness(handler: CannedBrokerHandler(users: users))
        do {
            try await body(harness, users)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    @Test func addUserThenListUsers() async throws {
        try await withBroker { broker, users in
            let added = try await broker.warrenctl("add_user", "alice", "secret")
            #expect(added.status == 0, "\(added)")
            #expect(
                added.stdout == """
                    Adding user "alice" ...
                    Done. Don't forget to grant the user permissions to some virtual hosts! See 'warrenctl help set_permissions' to learn more.

                    """)
            #expect(users.snapshot.authenticate("alice", password: "secret") != nil)
            let listed = try await broker.warrenctl("list_users")
            #expect(listed.stdout == "Listing users ...\nuser\ttags\nalice\t[]\nguest\t[administrator]\n")
            let quiet = try await broker.warrenctl("-q", "list_users")
            #expect(quiet.stdout == "user\ttags\nalice\t[]\nguest\t[administrator]\n")
            let silent = try await broker.warrenctl("list_users", "-s")
            #expect(silent.stdout == "alice\t[]\nguest\t[administrator]\n")
        }
    }

    @Test func addingAnExistingUserFailsWithStatus70() async throws {
        try await withBroker { broker, _ in
            let run = try await broker.warrenctl("add_user", "guest", "x")
            #expect(run.status == 70)
            #expect(run.stdout == "Adding user \"guest\" ...\n")
            #expect(run.stderr == "Error:\nUser \"guest\" already exists\n")
            let quiet = try await broker.warrenctl("-q", "add_user", "bob", "pw")
            #expect(quiet.status == 0 && quiet.stdout.isEmpty && quiet.stderr.isEmpty)
        }
    }

    @Test func missingUsersAreReportedWithStatus67() async throws {
        try await withBroker { broker, _ in
            for command in [
                ["delete_user", "nobody"], ["change_password", "nobody", "x"], ["clear_password", "nobody"],
            ] {
                let run = try await ControlHarness.warrenctl(command + ["--data-dir", broker.dataDirectory])
                #expect(run.status == 67, "\(run)")
                #expect(run.stderr == "Error:\nUser \"nobody\" does not exist\n")
            }
            let tags = try await broker.warrenctl("set_user_tags", "nobody", "x")
            #expect(tags.stdout == "Setting tags for user \"nobody\" to [x] ...\n")
            #expect(tags.status == 67)
        }
    }

    @Test func authenticateUser() async throws {
        try await withBroker { broker, _ in
            let ok = try await broker.warrenctl("authenticate_user", "guest", "guest")
            #expect(ok.status == 0)
            #expect(ok.stdout == "Authenticating user \"guest\" ...\nSuccess\n")
            let quiet = try await broker.warrenctl("-q", "authenticate_user", "guest", "guest")
            #expect(quiet.stdout == "Success\n")
            let bad = try await broker.warrenctl("authenticate_user", "guest", "wrong")
            #expect(bad.status == 65)
            #expect(
                bad.stderr
                    == "Error:\nError: failed to authenticate user \"guest\"\nuser 'guest' - invalid credentials\n")
        }
    }

    @Test func passwordsCanComeFromStandardInput() async throws {
        try await withBroker { broker, users in
            let run = try await broker.warrenctl("add_user", "carol", stdin: "from-stdin\n")
            #expect(run.status == 0, "\(run)")
            #expect(users.snapshot.authenticate("carol", password: "from-stdin") != nil)
            let none = try await broker.warrenctl("add_user", "dave", stdin: "")
            #expect(none.status == 65)
            #expect(none.stderr == "Error:\nPassword is not provided via argument or stdin\n")
        }
    }

    @Test func changeAndClearPassword() async throws {
        try await withBroker { broker, users in
            let changed = try await broker.warrenctl("change_password", "guest", "new")
            #expect(changed.stdout == "Changing password for user \"guest\" ...\n")
            #expect(users.snapshot.authenticate("guest", password: "new") != nil)
            let cleared = try await broker.warrenctl("clear_password", "guest")
            #expect(cleared.stdout == "Clearing password for user \"guest\" ...\n")
            #expect(users.snapshot.authenticate("guest", password: "new") == nil)
        }
    }

    @Test func userTagsAndJSONFormatter() async throws {
        try await withBroker { broker, _ in
            let set = try await broker.warrenctl("set_user_tags", "guest", "administrator", "monitoring")
            #expect(set.stdout == "Setting tags for user \"guest\" to [administrator, monitoring] ...\n")
            _ = try await broker.warrenctl("add_user", "bob", "pw")
            let json = try await broker.warrenctl("list_users", "--formatter", "json")
            #expect(
                json.stdout == """
                    [
                    {"user":"bob","tags":[]}
                    ,{"user":"guest","tags":["administrator","monitoring"]}
                    ]

                    """)
            let text = try await broker.warrenctl("-q", "list_users")
            #expect(text.stdout == "user\ttags\nbob\t[]\nguest\t[administrator, monitoring]\n")
        }
    }

    @Test func vhosts() async throws {
        try await withBroker { broker, _ in
            let added = try await broker.warrenctl("add_vhost", "dev", "--description", "Development", "--tags", "a,b")
            #expect(added.stdout == "Adding vhost \"dev\" ...\n")
            let again = try await broker.warrenctl("add_vhost", "dev")
            #expect(again.status == 0)
            let listed = try await broker.warrenctl("list_vhosts")
            #expect(listed.stdout == "Listing vhosts ...\nname\n/\ndev\n")
            let columns = try await broker.warrenctl("-q", "list_vhosts", "name", "description", "tags", "tracing")
            #expect(
                columns.stdout
                    == "name\tdescription\ttags\ttracing\n/\tDefault virtual host\t[]\tfalse\ndev\tDevelopment\t[a, b]\tfalse\n"
            )
            let json = try await broker.warrenctl("list_vhosts", "name,description", "--formatter", "json")
            #expect(
                json.stdout
                    == "[\n{\"name\":\"/\",\"description\":\"Default virtual host\"}\n,{\"name\":\"dev\",\"description\":\"Development\"}\n]\n"
            )
            let missing = try await broker.warrenctl("delete_vhost", "nope")
            #expect(missing.status == 65)
            #expect(missing.stdout == "Deleting vhost \"nope\" ...\n")
            #expect(missing.stderr == "Error:\nVirtual host 'nope' does not exist\n")
            let deleted = try await broker.warrenctl("delete_vhost", "dev")
            #expect(deleted.status == 0)
            let bad = try await broker.warrenctl("list_vhosts", "foo")
            #expect(bad.status == 64)
            #expect(bad.stderr.contains("Info key(s) foo are not supported"))
        }
    }

    @Test func permissions() async throws {
        try await withBroker { broker, users in
            _ = try await broker.warrenctl("add_vhost", "dev")
            _ = try await broker.warrenctl("add_user", "alice", "pw")
            let set = try await broker.warrenctl("set_permissions", "-p", "dev", "alice", "^amq\\.", "", "x")
            #expect(set.status == 0, "\(set)")
            #expect(set.stdout == "Setting permissions for user \"alice\" in vhost \"dev\" ...\n")
            #expect(
                users.snapshot.permission(user: "alice", vhost: "dev")
                    == Permission(configure: "^amq\\.", write: "", read: "x"))
            let inDev = try await broker.warrenctl("list_permissions", "-p", "dev")
            #expect(
                inDev.stdout
                    == "Listing permissions for vhost \"dev\" ...\nuser\tconfigure\twrite\tread\nalice\t^amq\\.\t\tx\n")
            let before = try await broker.warrenctl("-q", "-p", "dev", "list_permissions", "--formatter", "json")
            #expect(
                before.stdout
                    == "[\n{\"user\":\"alice\",\"configure\":\"^amq\\\\.\",\"write\":\"\",\"read\":\"x\"}\n]\n")
            let ofUser = try await broker.warrenctl("list_user_permissions", "guest")
            #expect(
                ofUser.stdout
                    == "Listing permissions for user \"guest\" ...\nvhost\tconfigure\twrite\tread\n/\t.*\t.*\t.*\n")
            let noVhost = try await broker.warrenctl("set_permissions", "-p", "nope", "alice", "a", "b", "c")
            #expect(noVhost.status == 69)
            #expect(noVhost.stderr == "Error:\nVirtual host nope does not exist\n")
            let noUser = try await broker.warrenctl("set_permissions", "nobody", "a", "b", "c")
            #expect(noUser.status == 67)
            #expect(noUser.stderr == "Error:\nUser nobody does not exist\n")
            let badRegex = try await broker.warrenctl("set_permissions", "alice", "(", "b", "c")
            #expect(badRegex.status == 69)
            #expect(badRegex.stderr.contains("regular expression '(' is invalid"))
            let cleared = try await broker.warrenctl("clear_permissions", "-p", "dev", "alice")
            #expect(cleared.stdout == "Clearing permissions for user \"alice\" in vhost \"dev\" ...\n")
            #expect(users.snapshot.permission(user: "alice", vhost: "dev") == nil)
            let listMissing = try await broker.warrenctl("list_permissions", "-p", "nope")
            #expect(listMissing.status == 65)
            let tooFew = try await broker.warrenctl("set_permissions", "alice", "a", "b")
            #expect(tooFew.status == 64)
        }
    }

    @Test func listQueuesPrintsTheBrokersRows() async throws {
        try await withBroker { broker, _ in
            let run = try await broker.warrenctl("list_queues")
            #expect(
                run.stdout
                    == "Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\norders\t2\nscratch\t0\n"
            )
            let columns = try await broker.warrenctl("-q", "list_queues", "name", "durable", "arguments")
            #expect(
                columns.stdout
                    == "name\tdurable\targuments\norders\ttrue\t[{\"x-max-length\",10},{\"x-queue-mode\",\"lazy\"}]\nscratch\tfalse\t[]\n"
            )
            let json = try await broker.warrenctl("list_queues", "name", "arguments", "--formatter", "json")
            #expect(
                json.stdout == """
                    [
                    {"name":"orders","arguments":[["x-max-length","signedint",10],["x-queue-mode","longstr","lazy"]]}
                    ,{"name":"scratch","arguments":[]}
                    ]

                    """)
            let empty = try await broker.warrenctl("list_queues", "-p", "dev", "--formatter", "json")
            #expect(empty.stdout == "[\n]\n")
            let unknown = try await broker.warrenctl("list_queues", "bogus")
            #expect(unknown.status == 64)
        }
    }

    @Test func queueOperationsReportTheBrokersErrors() async throws {
        try await withBroker { broker, _ in
            let ok = try await broker.warrenctl("purge_queue", "orders")
            #expect(ok.stdout == "Purging queue 'orders' in vhost '/' ...\n")
            #expect(ok.status == 0)
            let missing = try await broker.warrenctl("purge_queue", "-p", "dev", "nope")
            #expect(missing.status == 69)
            #expect(missing.stderr == "Error:\nQueue 'nope' in vhost 'dev' not found\n")
            let unsupported = try await broker.warrenctl("list_connections")
            #expect(unsupported.status == 69)
        }
    }

    @Test func definitionsExportAndImport() async throws {
        try await withBroker { broker, users in
            let file = broker.dataDirectory + "/export.json"
            let exported = try await broker.warrenctl("export_definitions", file)
            #expect(exported.status == 0, "\(exported)")
            #expect(exported.stdout == "Exporting definitions in JSON to a file at \"\(file)\" ...\n")
            let definitions = try Definitions(json: Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(definitions.users.map(\.name) == ["guest"])
            let toStdout = try await broker.warrenctl("export_definitions", "-")
            #expect(try Definitions(json: Data(toStdout.stdout.utf8)) == definitions)

            let fixture = Fixtures.directory.appendingPathComponent("rabbitmq-3.10-definitions.json").path
            let imported = try await broker.warrenctl("import_definitions", fixture)
            #expect(imported.status == 0, "\(imported)")
            #expect(imported.stdout.hasPrefix("Importing definitions in JSON from a file at \"\(fixture)\" ...\n"))
            #expect(users.snapshot.authenticate("bob", password: "bob-secret") != nil)
            let login = try await broker.warrenctl("-q", "authenticate_user", "alice", "alice-secret")
            #expect(login.stdout == "Success\n")
            let fromStdin = try await broker.warrenctl(
                "import_definitions", "-", stdin: #"{"users":[{"name":"eve","password":"pw","tags":[]}]}"#)
            #expect(fromStdin.status == 0, "\(fromStdin)")
            #expect(users.snapshot.authenticate("eve", password: "pw") != nil)
            let garbage = try await broker.warrenctl("import_definitions", "-", stdin: "garbage")
            #expect(garbage.status == 65)
            let missing = try await broker.warrenctl("import_definitions", "/nonexistent.json")
            #expect(missing.status == 65)
        }
    }

    @Test func statusAndAwaitStartup() async throws {
        try await withBroker { broker, _ in
            let status = try await broker.warrenctl("status", "--formatter", "json")
            #expect(status.stdout.contains("\"product_name\":\"Warren\""))
            let awaited = try await broker.warrenctl("await_startup")
            #expect(awaited.status == 0 && awaited.stdout.isEmpty)
        }
    }

    @Test func brokerNotRunningNamesTheSocket() async throws {
        let directory = NSTemporaryDirectory() + "warrenctl-absent-\(UUID().uuidString.prefix(8))"
        let run = try await ControlHarness.warrenctl(["list_users", "--data-dir", directory])
        #expect(run.status == 69)
        #expect(run.stderr.contains("\(directory)/warren.sock"))
        #expect(run.stderr.hasPrefix("Error: unable to connect"))
        let waited = try await ControlHarness.warrenctl(["await_startup", "--timeout", "0.5", "--data-dir", directory])
        #expect(waited.status == 75)
    }

    @Test func helpListsTheCommands() async throws {
        let help = try await ControlHarness.warrenctl(["help"])
        #expect(help.status == 0)
        for command in [
            "add_user", "set_permissions", "list_queues", "export_definitions", "await_startup",
            "set_vm_memory_high_watermark", "set_disk_free_limit",
        ] {
            #expect(help.stdout.contains(command), "\(command)")
        }
        let one = try await ControlHarness.warrenctl(["help", "set_permissions"])
        #expect(one.stdout.contains("<username> <conf> <write> <read>"))
    }
}

@Suite(.serialized) struct ControlServerTests {
    @Test func socketIsOnlyForTheBrokersUserAndGoneAfterShutdown() async throws {
        let harness = try await ControlHarness(handler: UserDatabaseCommandHandler())
        let path = harness.dataDirectory + "/warren.sock"
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((attributes[.type] as? FileAttributeType) == .typeSocket)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: harness.dataDirectory)
        #expect(leftovers == ["warren.sock"])
        await harness.server.shutdown()
        #expect(!FileManager.default.fileExists(atPath: path))
        try? FileManager.default.removeItem(atPath: harness.dataDirectory)
    }

    @Test func aStaleSocketIsReplaced() async throws {
        let first = try await ControlHarness(handler: UserDatabaseCommandHandler())
        let path = first.dataDirectory + "/warren.sock"
        // A broker that died leaves its socket file behind: close without removing it.
        let second = ControlServer(
            socketPath: path, handler: UserDatabaseCommandHandler(), logger: .init(label: "test"))
        try await second.start()
        Task { await second.run() }
        let response = try await ControlClient(socketPath: path).send(ControlRequest(command: "list_users"))
        #expect(response.table?.rows.count == 1)
        await second.shutdown()
        await first.stop()
    }

    @Test func refusesToReplaceSomethingElse() async throws {
        let directory = NSTemporaryDirectory() + "warrenctl-file-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/warren.sock", contents: Data("keep".utf8))
        let server = ControlServer(
            socketPath: directory + "/warren.sock", handler: UserDatabaseCommandHandler(), logger: .init(label: "test"))
        await #expect(throws: ControlServer.StartError.self) { try await server.start() }
        #expect(FileManager.default.contents(atPath: directory + "/warren.sock") == Data("keep".utf8))
    }

    @Test func malformedRequestsGetAnError() async throws {
        let harness = try await ControlHarness(handler: UserDatabaseCommandHandler())
        defer { Task { await harness.stop() } }
        let response = try await ControlClient(socketPath: harness.dataDirectory + "/warren.sock")
            .send(ControlRequest(command: "no_such_command"))
        #expect(!response.ok)
        #expect(response.exitStatus == 69)
    }
}
