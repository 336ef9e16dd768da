extension SQLiteStore {
    // MARK: - Web sign-in

    public func createWebState(_ state: WebStateRecord, now: Int64) async throws {
        try withConnection { db in
            try db.writeTransaction {
                try db.query(
                    "INSERT INTO web_states (id, appid, scope, return_to, expires_at) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(state.id), .text(state.appid), .text(state.scope), .text(state.returnTo),
                        .integer(state.expiresAt),
                    ]
                )
                // `GET /login` is open to anyone: a bounded sweep on every insert keeps the table small.
                try db.query(
                    "DELETE FROM web_states WHERE rowid IN (SELECT rowid FROM web_states WHERE expires_at < ? LIMIT 20)",
                    [.integer(now - 3_600)]
                )
            }
        }
    }

    public func claimWebState(id: String, codeHash: [UInt8], now: Int64) async throws -> WebStateClaim {
        try withConnection { db in
            try db.writeTransaction {
                // One conditional update binds the code; the read that follows sees the winner's binding.
                try db.query(
                    "UPDATE web_states SET code_hash = ? WHERE id = ? AND code_hash IS NULL AND expires_at >= ?",
                    [.blob(codeHash), .text(id), .integer(now)]
                )
                let claimed = db.changes > 0
                guard
                    let row = try db.query(
                        "SELECT appid, scope, return_to, expires_at, code_hash, outcome FROM web_states WHERE id = ?",
                        [.text(id)]
                    ).first
                else { return .unknown }
                let record = WebStateRecord(
                    id: id,
                    appid: row[0].text ?? "",
                    scope: row[1].text ?? "",
                    returnTo: row[2].text ?? "",
                    expiresAt: row[3].integer ?? 0
                )
                if claimed { return .claimed(record) }
                guard let bound = row[4].blob else { return .unknown }  // expired before it was used
                guard ConstantTimeBytes.equal(bound, codeHash) else { return .replayed }
                return .repeated(record, sealedOutcome: row[5].blob)
            }
        }
    }

    public func completeWebState(id: String, sealedOutcome: [UInt8]) async throws {
        try withConnection { db in
            try db.query("UPDATE web_states SET outcome = ? WHERE id = ?", [.blob(sealedOutcome), .text(id)])
        }
    }

    public func releaseWebState(id: String) async throws {
        try withConnection { db in
            try db.query("UPDATE web_states SET code_hash = NULL WHERE id = ? AND outcome IS NULL", [.text(id)])
        }
    }

    public func saveWebTokens(appid: String, openid: String, sealed: [UInt8]) async throws {
        try withConnection { db in
            try db.query(
                "UPDATE identities SET web_tokens = ? WHERE appid = ? AND openid = ?",
                [.blob(sealed), .text(appid), .text(openid)]
            )
        }
    }

    public func sealedWebTokens(appid: String, openid: String) async throws -> [UInt8]? {
        try withConnection { db in
            try db.query(
                "SELECT web_tokens FROM identities WHERE appid = ? AND openid = ?",
                [.text(appid), .text(openid)]
            ).first?.first?.blob
        }
    }
}

/// Byte comparison whose time does not depend on where the inputs differ.
enum ConstantTimeBytes {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
