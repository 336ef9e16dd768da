import PostgresWire
import WXAuthStore

extension PostgresStore {
    // MARK: - Administration

    public func refreshToken(hash: [UInt8]) async throws -> RefreshTokenRecord? {
        let row = try await read(
            "SELECT family_id, issued_at, expires_at, spent_at FROM refresh_tokens WHERE hash = \(PostgresBytes(hash))"
        ).first
        guard let row else { return nil }
        let (familyId, issuedAt, expiresAt, spentAt) = (
            try row.decode(String.self, at: 0), try row.decode(Int64.self, at: 1),
            try row.decode(Int64.self, at: 2),
            try row.decode(Int64?.self, at: 3)
        )
        return RefreshTokenRecord(familyId: familyId, issuedAt: issuedAt, expiresAt: expiresAt, spent: spentAt != nil)
    }

    public func userId(appid: String, openid: String) async throws -> String? {
        try await read("SELECT user_id FROM identities WHERE appid = \(appid) AND openid = \(openid)")
            .first?.decode(String.self, at: 0)
    }

    public func revokeFamilies(userId: String, now: Int64) async throws -> Int {
        try await statement { db in
            try Self.rows(
                db,
                """
                UPDATE refresh_families SET revoked_at = \(now), revoke_reason = 'admin'
                WHERE user_id = \(userId) AND revoked_at IS NULL RETURNING id
                """
            ).count
        }
    }

    public func recordNonce(_ nonce: String, keyId: String, expiresAt: Int64, now: Int64) async throws -> Bool {
        try await transaction { db in
            try Self.rows(db, "DELETE FROM admin_nonces WHERE expires_at <= \(now)")
            return try Self.rows(
                db,
                """
                INSERT INTO admin_nonces (key_id, nonce, expires_at) VALUES (\(keyId), \(nonce), \(expiresAt))
                ON CONFLICT DO NOTHING RETURNING nonce
                """
            ).count == 1
        }
    }
}
