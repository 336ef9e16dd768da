import Foundation
import TestSupport
import Testing
import WXAuthStore

@testable import LocalRunner

/// `local-runner sweep`: expired rows deleted on demand, batch by batch.
@Suite struct SweepTests {
    /// A SQLite database holding `count` sign-ins whose refresh tokens expired in 1970.
    static func databaseWithExpiredSignIns(_ count: Int) async throws -> (path: String, store: SQLiteStore) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wxauth-sweep-\(UUID().uuidString).sqlite"
        ).path
        let store = try SQLiteStore(path: path)
        for index in 0..<count {
            _ = try await store.signIn(
                SignInRecord(
                    appid: "wx",
                    openid: "o\(index)",
                    unionid: nil,
                    sealedSessionKey: nil,
                    newUserId: "u\(index)",
                    familyId: "f\(index)",
                    refreshTokenHash: [UInt8(index)],
                    refreshExpiresAt: 1500,
                    now: 1000
                )
            )
        }
        return (path, store)
    }

    /// Removes a database file and its journal files, also when the test failed.
    static func removeDatabase(at path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func sweepsInBatchesUntilNothingIsLeft() async throws {
        let (path, store) = try await Self.databaseWithExpiredSignIns(5)
        defer { Self.removeDatabase(at: path) }
        let now = Int64(Date().timeIntervalSince1970)
        #expect(try await SweepCommand.sweep(store, now: now, batch: 2) == SweepReport(refreshTokens: 5, families: 5))
        #expect(try await SweepCommand.sweep(store, now: now, batch: 2) == SweepReport())
        #expect(try await store.session(familyId: "f0") == nil)
    }

    @Test(.enabled(if: builtLocalRunner != nil, "local-runner is not built"))
    func theCommandPrintsWhatItDeleted() async throws {
        let (path, _) = try await Self.databaseWithExpiredSignIns(3)
        defer { Self.removeDatabase(at: path) }
        let run = try await runChildProcess(
            try #require(builtLocalRunner),
            arguments: ["sweep", "--database-url", "sqlite:" + path, "--batch", "2"],
            environment: ["PATH": "/usr/bin:/bin"]
        )
        #expect(run.status == 0)
        #expect(run.stdout == "deleted 3 expired refresh tokens and 3 emptied sessions\n")
    }
}
