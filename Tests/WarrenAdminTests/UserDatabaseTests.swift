import Foundation
import Testing

@testable import WarrenCore

@Suite struct UserDatabaseTests {
    @Test func seededDatabaseHasGuestWithFullAccessToSlash() throws {
        let database = UserDatabase.seeded()
        #expect(database.vhostNames == ["/"])
        let guest = try #require(database.user(named: "guest"))
        #expect(guest.tags == ["administrator"])
        #expect(database.authenticate("guest", password: "guest") != nil)
        #expect(database.permission(user: "guest", vhost: "/") == .all)
    }

    @Test func addingAnExistingUserFails() throws {
        var database = UserDatabase()
        try database.addUser("alice", password: "secret")
        #expect(throws: UserDatabaseError.userAlreadyExists("alice")) {
            try database.addUser("alice", password: "other")
        }
        #expect(database.authenticate("alice", password: "secret") != nil)
    }

    @Test func authenticationNeedsTheRightPassword() throws {
        var database = UserDatabase()
        try database.addUser("alice", password: "secret")
        #expect(database.authenticate("alice", password: "secret")?.name == "alice")
        #expect(database.authenticate("alice", password: "wrong") == nil)
        #expect(database.authenticate("nobody", password: "secret") == nil)
    }

    @Test func changedPasswordReplacesTheOld() throws {
        var database = UserDatabase()
        try database.addUser("alice", password: "old")
        try database.changePassword("alice", to: "new")
        #expect(database.authenticate("alice", password: "new") != nil)
        #expect(database.authenticate("alice", password: "old") == nil)
        #expect(throws: UserDatabaseError.noSuchUser("bob")) { try database.changePassword("bob", to: "x") }
    }

    @Test func clearedPasswordDisablesPasswordLogin() throws {
        var database = UserDatabase()
        try database.addUser("alice", password: "secret")
        try database.clearPassword("alice")
        #expect(database.user(named: "alice")?.passwordHash == nil)
        #expect(database.authenticate("alice", password: "secret") == nil)
        #expect(database.authenticate("alice", password: "") == nil)
    }

    @Test func blankPasswordNeverLogsIn() throws {
        var database = UserDatabase()
        try database.addUser("empty", password: "")
        #expect(database.authenticate("empty", password: "") == nil)
    }

    @Test func tagsAreReplacedWhole() throws {
        var database = UserDatabase()
        try database.addUser("alice", password: "x", tags: ["monitoring"])
        try database.setTags("alice", ["administrator", "management"])
        #expect(database.user(named: "alice")?.tags == ["administrator", "management"])
        try database.setTags("alice", [])
        #expect(database.user(named: "alice")?.tags == [])
        #expect(throws: UserDatabaseError.noSuchUser("nobody")) { try database.setTags("nobody", []) }
    }

    @Test func deletingAUserRemovesItsPermissions() throws {
        var database = UserDatabase.seeded()
        try database.addUser("alice", password: "x")
        try database.setPermission(.all, user: "alice", vhost: "/")
        try database.setTopicPermission(
            TopicPermission(user: "alice", vhost: "/", exchange: "amq.topic", write: ".*", read: ".*"))
        try database.deleteUser("alice")
        #expect(database.user(named: "alice") == nil)
        #expect(database.permissions(ofUser: "alice").isEmpty)
        #expect(database.topicPermissions.isEmpty)
        #expect(throws: UserDatabaseError.noSuchUser("alice")) { try database.deleteUser("alice") }
    }

    @Test func addingAnExistingVhostChangesNothing() {
        var database = UserDatabase()
        let first = database.addVhost("dev", metadata: VhostMetadata(description: "first"))
        let second = database.addVhost("dev", metadata: VhostMetadata(description: "second"))
        #expect(first && !second)
        #expect(database.vhosts["dev"]?.description == "first")
    }

    @Test func deletingAVhostRemovesPermissionsInIt() throws {
        var database = UserDatabase.seeded()
        database.addVhost("dev")
        try database.setPermission(.all, user: "guest", vhost: "dev")
        try database.deleteVhost("dev")
        #expect(database.vhostNames == ["/"])
        #expect(database.permissions(ofUser: "guest").map(\.vhost) == ["/"])
        #expect(throws: UserDatabaseError.noSuchVhost("dev")) { try database.deleteVhost("dev") }
    }

    @Test func permissionsNeedAnExistingUserAndVhostAndValidPatterns() throws {
        var database = UserDatabase.seeded()
        #expect(throws: UserDatabaseError.noSuchVhost("nope")) {
            try database.setPermission(.all, user: "guest", vhost: "nope")
        }
        #expect(throws: UserDatabaseError.noSuchUser("nobody")) {
            try database.setPermission(.all, user: "nobody", vhost: "/")
        }
        #expect(throws: UserDatabaseError.invalidPattern("(")) {
            try database.setPermission(Permission(configure: "(", write: "", read: ""), user: "guest", vhost: "/")
        }
    }

    @Test func clearingPermissionsThatWereNeverSetSucceeds() throws {
        var database = UserDatabase.seeded()
        try database.addUser("alice", password: "x")
        try database.clearPermission(user: "alice", vhost: "/")
        try database.clearPermission(user: "guest", vhost: "/")
        #expect(database.permission(user: "guest", vhost: "/") == nil)
        #expect(throws: UserDatabaseError.noSuchUser("nobody")) {
            try database.clearPermission(user: "nobody", vhost: "/")
        }
    }

    @Test func listsAreSortedByName() throws {
        var database = UserDatabase.seeded()
        try database.addUser("zed", password: "x")
        try database.addUser("alice", password: "x")
        database.addVhost("dev")
        database.addVhost("b")
        try database.setPermission(.all, user: "zed", vhost: "/")
        try database.setPermission(.all, user: "alice", vhost: "/")
        #expect(database.userList.map(\.name) == ["alice", "guest", "zed"])
        #expect(database.vhostNames == ["/", "b", "dev"])
        #expect(database.permissions(inVhost: "/").map(\.user) == ["alice", "guest", "zed"])
    }

    @Test func survivesAJSONRoundTrip() throws {
        var database = UserDatabase.seeded()
        try database.addUser("alice", password: "secret", tags: ["management"])
        try database.clearPassword("guest")
        database.addVhost("dev", metadata: VhostMetadata(description: "Development", tags: ["qa"]))
        try database.setPermission(
            Permission(configure: "", write: "^amq\\.topic$", read: ".*"), user: "alice", vhost: "dev")
        try database.setTopicPermission(
            TopicPermission(user: "alice", vhost: "dev", exchange: "amq.topic", write: "^a", read: "^b"))
        let data = try JSONEncoder().encode(database)
        let decoded = try JSONDecoder().decode(UserDatabase.self, from: data)
        #expect(decoded == database)
        #expect(decoded.authenticate("alice", password: "secret") != nil)
    }
}
