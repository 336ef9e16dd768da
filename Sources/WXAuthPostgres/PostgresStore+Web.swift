import PostgresWire
import WXAuthStore

extension PostgresStore {
    // MARK: - Web sign-in

    public func createWebState(_ state: WebStateRecord, now: Int64) async throws {
        try await transaction { db in
            try Self.rows(
                db,
                """
                INSERT INTO web_states (id, appid, scope, return_to, expires_at)
                VALUES (\(state.id), \(state.appid), \(state.scope), \(state.returnTo), \(state.expiresAt))
                """
            )
            // `GET /login` is open to anyone: a bounded sweep on every insert keeps the table small.
            try Self.rows(
                db,
                """
                DELETE FROM web_states WHERE id IN (
                  SELECT id FROM web_states WHERE expires_at < \(now - 3_600) LIMIT 20 FOR UPDATE SKIP LOCKED
                )
                """
            )
        }
    }

    public func claimWebState(id: String, codeHash: [UInt8], now: Int64) async throws -> WebStateClaim {
        try await transaction { db in
            // One conditional update binds the code; of racing callbacks exactly one sees its row come back.
            let claimed = try Self.rows(
                db,
                """
                UPDATE web_states SET code_hash = \(PostgresBytes(codeHash))
                WHERE id = \(id) AND code_hash IS NULL AND expires_at >= \(now)
                RETURNING appid, scope, return_to, expires_at
                """
            )
            if let row = claimed.first {
                let (appid, scope, returnTo, expiresAt) = (
                    try row.decode(String.self, at: 0), try row.decode(String.self, at: 1),
                    try row.decode(String.self, at: 2),
                    try row.decode(Int64.self, at: 3)
                )
                return .claimed(
                    WebStateRecord(id: id, appid: appid, scope: scope, returnTo: returnTo, expiresAt: expiresAt)
                )
            }
            guard
                let row = try Self.rows(
                    db,
                    "SELECT appid, scope, return_to, expires_at, code_hash, outcome FROM web_states WHERE id = \(id)"
                ).first
            else { return .unknown }
            let (appid, scope, returnTo, expiresAt, bound, outcome) = (
                try row.decode(String.self, at: 0), try row.decode(String.self, at: 1),
                try row.decode(String.self, at: 2),
                try row.decode(Int64.self, at: 3), try row.decode(PostgresBytes?.self, at: 4),
                try row.decode(PostgresBytes?.self, at: 5)
            )
            let record = WebStateRecord(id: id, appid: appid, scope: scope, returnTo: returnTo, expiresAt: expiresAt)
            guard let bound else { return .unknown }  // expired before it was used
            guard bound.bytes == codeHash else { return .replayed }
            return .repeated(record, sealedOutcome: outcome.map(\.bytes))
        }
    }

    public func completeWebState(id: String, sealedOutcome: [UInt8]) async throws {
        try await statement { db in
            try Self.rows(
                db,
                "UPDATE web_states SET outcome = \(PostgresBytes(sealedOutcome)) WHERE id = \(id)"
            )
        }
    }

    public func releaseWebState(id: String) async throws {
        try await statement { db in
            try Self.rows(
                db,
                "UPDATE web_states SET code_hash = NULL WHERE id = \(id) AND outcome IS NULL"
            )
        }
    }

    public func saveWebTokens(appid: String, openid: String, sealed: [UInt8]) async throws {
        try await statement { db in
            try Self.rows(
                db,
                "UPDATE identities SET web_tokens = \(PostgresBytes(sealed)) WHERE appid = \(appid) AND openid = \(openid)"
            )
        }
    }

    public func sealedWebTokens(appid: String, openid: String) async throws -> [UInt8]? {
        let row = try await read("SELECT web_tokens FROM identities WHERE appid = \(appid) AND openid = \(openid)")
            .first
        return try row?.decode(PostgresBytes?.self, at: 0).map(\.bytes)
    }
}
