import Logging
import PostgresWire
import WXAuthStore

extension PostgresStore {
    // MARK: - Circuit breaker

    public func circuit(name: String) async throws -> CircuitState? {
        try Self.circuit(from: try await read(Self.circuitQuery(name: name, locking: false)))
    }

    public func updateCircuit(
        name: String,
        _ change: @escaping @Sendable (CircuitState?) -> CircuitState?
    ) async throws -> CircuitState? {
        // The advisory lock serialises instances updating a circuit that has no row yet (FOR UPDATE locks
        // nothing then); a lost race on the insert is retried by `transaction`, which sees the winner's row.
        try await transaction(locks: [("circuit", name)]) { db in
            guard let next = change(try Self.loadCircuit(db, name: name, locking: true)) else {
                try Self.rows(db, "DELETE FROM circuits WHERE name = \(name)")
                return nil
            }
            try Self.rows(
                db,
                """
                INSERT INTO circuits (name, failures, window_start, open_until, probe_until)
                VALUES (\(name), \(next.failures), \(next.windowStart), \(next.openUntil), \(next.probeUntil))
                ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                  open_until = excluded.open_until, probe_until = excluded.probe_until
                """
            )
            return next
        }
    }

    private static func loadCircuit(
        _ db: PostgresConnection,
        name: String,
        locking: Bool
    ) throws -> CircuitState? {
        try circuit(from: try db.query(circuitQuery(name: name, locking: locking)))
    }

    private static func circuitQuery(name: String, locking: Bool) -> PostgresQuery {
        locking
            ? "SELECT failures, window_start, open_until, probe_until FROM circuits WHERE name = \(name) FOR UPDATE"
            : "SELECT failures, window_start, open_until, probe_until FROM circuits WHERE name = \(name)"
    }

    private static func circuit(from result: PostgresResult) throws -> CircuitState? {
        guard let row = result.first else { return nil }
        let (failures, windowStart, openUntil, probeUntil) = (
            try row.decode(Int.self, at: 0), try row.decode(Int64.self, at: 1), try row.decode(Int64.self, at: 2),
            try row.decode(Int64.self, at: 3)
        )
        return CircuitState(failures: failures, windowStart: windowStart, openUntil: openUntil, probeUntil: probeUntil)
    }
}
