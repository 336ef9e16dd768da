import ArgumentParser
import Foundation
import Logging
import WXAuthPostgres
import WXAuthStore

/// `local-runner sweep`: deletes expired rows now, in bounded batches, instead of waiting for sign-ins to do it.
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Delete expired refresh tokens and the sign-in sessions they leave empty.",
        discussion: """
            Sign-ins already delete a few expired rows each, so no cron job is needed; this runs the same
            cleanup on demand (after an import, or before measuring the tables). Tokens are kept for a day
            after they expire. Each batch is its own short transaction, so serving instances never wait long.
            """
    )

    @Option(
        name: .customLong("database-url"),
        help: "sqlite:PATH or postgres://… (default: $WXAUTH_DATABASE_URL, else \(DatabaseURL.defaultValue))."
    )
    var databaseURL: String?

    @Option(help: "Rows deleted per transaction.")
    var batch: Int = 500

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() async throws {
        let text = databaseURL ?? ProcessInfo.processInfo.environment["WXAUTH_DATABASE_URL"] ?? DatabaseURL.defaultValue
        guard let url = DatabaseURL(text) else {
            Console.error("local-runner: the database URL must be sqlite:PATH or postgres://user:pass@host:port/db")
            throw ExitCode(2)
        }
        let logger = Logger(label: "sweep") { StreamLogHandler.standardError(label: $0) }
        let store: any Store
        do {
            store = try url.openStore(functionTimeout: .seconds(60), logger: logger)
        } catch {
            Console.error("local-runner: \(error)")
            throw ExitCode(2)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let total = try await Self.sweep(store, now: now, batch: batch)
        Console.out("deleted \(total.refreshTokens) expired refresh tokens and \(total.families) emptied sessions")
    }

    /// Sweeps batch after batch until one comes back short, and adds up what they deleted.
    static func sweep(_ store: any Store, now: Int64, batch: Int) async throws -> SweepReport {
        var total = SweepReport()
        while true {
            let report = try await store.sweepExpired(now: now, limit: batch)
            total.refreshTokens += report.refreshTokens
            total.families += report.families
            if report.refreshTokens < batch { return total }
        }
    }
}
