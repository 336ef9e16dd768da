extension SQLiteStore {
    // MARK: - Administration

    public func refreshToken(hash: [UInt8]) async throws -> RefreshTokenRecord? {
        try withConnection { db in
            guard
                let row = try db.query(
                    "SELECT family_id, issued_at, expires_at, spent_at FROM refresh_tokens WHERE hash = ?",
                    [.blob(hash)]
                ).first, let familyId = row[0].text
            else { return nil }
            return RefreshTokenRecord(
                familyId: familyId,
                issuedAt: row[1].integer ?? 0,
                expiresAt: row[2].integer ?? 0,
                spent: row[3].integer != nil
            )
        }
    }

    public func userId(appid: String, openid: String) async throws -> String? {
        try withConnection { db in
            try db.query(
                "SELECT user_id FROM identities WHERE appid = ? AND openid = ?",
                [.text(appid), .text(openid)]
            ).first?.first?.text
        }
    }

    public func revokeFamilies(userId: String, now: Int64) async throws -> Int {
        try withConnection { db in
            try db.query(
                "UPDATE refresh_families SET revoked_at = ?, revoke_reason = 'admin' WHERE user_id = ? AND revoked_at IS NULL",
                [.integer(now), .text(userId)]
            )
            return db.changes
        }
    }

    public func recordNonce(_ nonce: String, keyId: String, expiresAt: Int64, now: Int64) async throws -> Bool {
        try withConnection { db in
            try db.writeTransaction {
                try db.query("DELETE FROM admin_nonces WHERE expires_at <= ?", [.integer(now)])
                try db.query(
                    "INSERT INTO admin_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [.text(keyId), .text(nonce), .integer(expiresAt)]
                )
                return db.changes == 1
            }
        }
    }
}
