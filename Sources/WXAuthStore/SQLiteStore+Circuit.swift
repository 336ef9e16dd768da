extension SQLiteStore {
    // MARK: - Circuit breaker

    public func circuit(name: String) async throws -> CircuitState? {
        try withConnection { db in try Self.loadCircuit(db, name: name) }
    }

    public func updateCircuit(
        name: String,
        _ change: @escaping @Sendable (CircuitState?) -> CircuitState?
    ) async throws -> CircuitState? {
        try withConnection { db in
            try db.writeTransaction {
                guard let next = change(try Self.loadCircuit(db, name: name)) else {
                    try db.query("DELETE FROM circuits WHERE name = ?", [.text(name)])
                    return nil
                }
                try db.query(
                    """
                    INSERT INTO circuits (name, failures, window_start, open_until, probe_until) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                      open_until = excluded.open_until, probe_until = excluded.probe_until
                    """,
                    [
                        .text(name), .integer(Int64(next.failures)), .integer(next.windowStart),
                        .integer(next.openUntil),
                        .integer(next.probeUntil),
                    ]
                )
                return next
            }
        }
    }

    private static func loadCircuit(_ db: SQLiteConnection, name: String) throws -> CircuitState? {
        guard
            let row = try db.query(
                "SELECT failures, window_start, open_until, probe_until FROM circuits WHERE name = ?",
                [.text(name)]
            ).first
        else { return nil }
        return CircuitState(
            failures: Int(clamping: row[0].integer ?? 0),
            windowStart: row[1].integer ?? 0,
            openUntil: row[2].integer ?? 0,
            probeUntil: row[3].integer ?? 0
        )
    }
}
