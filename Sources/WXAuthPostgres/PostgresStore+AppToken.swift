import PostgresWire
import WXAuthStore

extension PostgresStore {
    // MARK: - Profiles

    public func updateProfile(
        userId: String,
        profile: UserProfile,
        unionid: String?,
        now: Int64
    ) async throws -> UserRecord {
        try await transaction { db in
            // FOR UPDATE: two profile updates of one user merge one after the other, neither losing the other's fields.
            guard let current = try Self.loadUser(db, id: userId, locking: true) else {
                throw StoreError("no such user")
            }
            let merged = current.profile.merging(profile)
            try Self.rows(
                db,
                """
                UPDATE users SET nickname = \(merged.nickname), picture = \(merged.picture), gender = \(merged.gender),
                  city = \(merged.city), province = \(merged.province), country = \(merged.country),
                  language = \(merged.language), phone_number = \(merged.phoneNumber),
                  phone_country_code = \(merged.phoneCountryCode)
                WHERE id = \(userId)
                """
            )
            try Self.rows(db, Self.touchQuery(userId: userId, gaining: unionid, now: now))
            guard let updated = try Self.loadUser(db, id: userId) else { throw StoreError("no such user") }
            return updated
        }
    }

    // MARK: - App token

    public func appToken(appid: String) async throws -> CachedAppToken? {
        let row = try await read("SELECT token, expires_at FROM app_tokens WHERE appid = \(appid)").first
        guard let row else { return nil }
        let (token, expiresAt) = (try row.decode(PostgresBytes?.self, at: 0), try row.decode(Int64.self, at: 1))
        guard let token else { return nil }
        return CachedAppToken(sealedToken: token.bytes, expiresAt: expiresAt)
    }

    public func saveAppToken(appid: String, token: CachedAppToken) async throws {
        try await statement { db in
            try Self.rows(
                db,
                """
                INSERT INTO app_tokens (appid, token, expires_at) VALUES (\(appid), \(PostgresBytes(token.sealedToken)), \(token.expiresAt))
                ON CONFLICT (appid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
                """
            )
        }
    }

    public func acquireAppTokenLease(appid: String, holder: String, until: Int64, now: Int64) async throws -> Bool {
        try await statement { db in
            // One statement: insert the row with the lease, or take a lapsed lease; a live one blocks both.
            let taken = try Self.rows(
                db,
                """
                INSERT INTO app_tokens (appid, lease_holder, lease_until) VALUES (\(appid), \(holder), \(until))
                ON CONFLICT (appid) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
                WHERE app_tokens.lease_until <= \(now) OR app_tokens.lease_holder = excluded.lease_holder
                RETURNING lease_holder
                """
            )
            return try taken.first?.decode(String.self, at: 0) == holder
        }
    }

    public func releaseAppTokenLease(appid: String, holder: String) async throws {
        try await statement { db in
            try Self.rows(
                db,
                "UPDATE app_tokens SET lease_holder = NULL, lease_until = 0 WHERE appid = \(appid) AND lease_holder = \(holder)"
            )
        }
    }
}
