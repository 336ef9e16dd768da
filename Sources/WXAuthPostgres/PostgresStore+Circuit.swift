import Logging
import PostgresNIO
import WXAuthStore

extension PostgresStore {
    // MARK: - Circuit breaker

    public func circuit(name: String) async throws -> CircuitState? {
        try await statement { db in try await Self.loadCircuit(db, name: name, locking: false, self.logger) }
    }

    public func updateCircuit(
        name: String, _ change: @escaping @Sendable (CircuitState?) -> CircuitState?
    ) async throws -> CircuitState? {
        // The advisory lock serialises instances updating a circuit that has no row yet (FOR UPDATE locks
        // nothing then); a lost race on the insert is retried by `transaction`, which sees the winner's row.
        try await transaction(locks: [("circuit", name)]) { db in
            let logger = self.logger
            guard let next = change(try await Self.loadCircuit(db, name: name, locking: true, logger)) else {
                try await Self.rows(db, "DELETE FROM circuits WHERE name = \(name)", logger)
                return nil
            }
            try await Self.rows(
                db,
                """
                INSERT INTO circuits (name, failures, window_start, open_until, probe_until)
                VALUES (\(name), \(next.failures), \(next.windowStart), \(next.openUntil), \(next.probeUntil))
                ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                  open_until = excluded.open_until, probe_until = excluded.probe_until
                """, logger
            )
            return next
        }
    }

    private static func loadCircuit(
        _ db: PostgresConnection, name: String, locking: Bool, _ logger: Logger
    ) async throws -> CircuitState? {
        let query: PostgresQuery =
            locking
            ? "SELECT failures, window_start, open_until, probe_until FROM circuits WHERE name = \(name) FOR UPDATE"
            : "SELECT failures, window_start, open_until, probe_until FROM circuits WHERE name = \(name)"
        guard let row = try await rows(db, query, logger).first else { return nil }
        let (failures, windowStart, openUntil, probeUntil) = try row.decode((Int, Int64, Int64, Int64).self)
        return CircuitState(failures: failures, windowStart: windowStart, openUntil: openUntil, probeUntil: probeUntil)
    }
}
