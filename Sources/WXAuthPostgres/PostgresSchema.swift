import PostgresWire

/// The PostgreSQL schema as numbered migrations; `wxauth_schema_migrations` records those applied.
///
/// Same tables and meaning as the SQLite schema: text ids, `bigint` seconds since the epoch, `bytea` for
/// hashes and sealed (encrypted) blobs.
enum PostgresSchema {
    static let migrations: [String] = [
        // 1: users and their WeChat identities, refresh-token families and hashed tokens, the shared app token.
        """
        CREATE TABLE users (
            id text PRIMARY KEY,
            unionid text UNIQUE,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            nickname text,
            picture text,
            gender integer,
            city text,
            province text,
            country text,
            language text,
            phone_number text,
            phone_country_code text
        );
        CREATE TABLE identities (
            appid text NOT NULL,
            openid text NOT NULL,
            user_id text NOT NULL REFERENCES users(id),
            session_key bytea,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (appid, openid)
        );
        CREATE INDEX identities_user ON identities(user_id);
        CREATE TABLE refresh_families (
            id text PRIMARY KEY,
            user_id text NOT NULL REFERENCES users(id),
            appid text NOT NULL,
            openid text NOT NULL,
            created_at bigint NOT NULL,
            revoked_at bigint,
            revoke_reason text
        );
        CREATE INDEX refresh_families_user ON refresh_families(user_id);
        CREATE TABLE refresh_tokens (
            hash bytea PRIMARY KEY,
            family_id text NOT NULL REFERENCES refresh_families(id),
            issued_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            spent_at bigint
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
        CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
        CREATE TABLE app_tokens (
            appid text PRIMARY KEY,
            token bytea,
            expires_at bigint NOT NULL DEFAULT 0,
            lease_holder text,
            lease_until bigint NOT NULL DEFAULT 0
        );
        """,
        // 2: web sign-in: states between GET /login and the callback; WeChat's web tokens per identity.
        """
        CREATE TABLE web_states (
            id text PRIMARY KEY,
            appid text NOT NULL,
            scope text NOT NULL,
            return_to text NOT NULL,
            expires_at bigint NOT NULL,
            code_hash bytea,
            outcome bytea
        );
        CREATE INDEX web_states_expiry ON web_states(expires_at);
        ALTER TABLE identities ADD COLUMN web_tokens bytea
        """,
        // 3: the circuit breaker on WeChat, shared by every instance; nonces of signed admin requests.
        """
        CREATE TABLE circuits (
            name text PRIMARY KEY,
            failures integer NOT NULL,
            window_start bigint NOT NULL,
            open_until bigint NOT NULL,
            probe_until bigint NOT NULL
        );
        CREATE TABLE admin_nonces (
            key_id text NOT NULL,
            nonce text NOT NULL,
            expires_at bigint NOT NULL,
            PRIMARY KEY (key_id, nonce)
        );
        CREATE INDEX admin_nonces_expiry ON admin_nonces(expires_at)
        """,
    ]

    /// Brings the schema up to date. Cheap when it already is (one query); otherwise the migrations run in one
    /// transaction under an advisory lock, so of two cold starts racing here one migrates and the other waits,
    /// then finds nothing left to do.
    static func migrate(_ connection: PostgresConnection) throws {
        if let applied = try? appliedVersion(connection), applied >= migrations.count { return }
        do {
            try connection.query("BEGIN")
            // The lock is per schema (hashtext(current_schema())), so separate schemas of one database migrate apart.
            try connection.query("SELECT pg_advisory_xact_lock(hashtext('wxauth.migrate'), hashtext(current_schema()))")
            try connection.query(
                """
                CREATE TABLE IF NOT EXISTS wxauth_schema_migrations (
                    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            let applied = try appliedVersion(connection)
            for (offset, migration) in migrations.enumerated() where offset + 1 > applied {
                // The extended protocol runs one statement at a time; the migrations use `;` only between statements.
                for statement in migration.split(separator: ";") where !statement.allSatisfy(\.isWhitespace) {
                    try connection.query(PostgresQuery(unsafeSQL: String(statement)))
                }
                try connection.query("INSERT INTO wxauth_schema_migrations (version) VALUES (\(offset + 1))")
            }
            try connection.query("COMMIT")
        } catch {
            // A failed connection has ended the transaction with itself.
            if !connection.isClosed { _ = try? connection.query("ROLLBACK") }
            throw error
        }
    }

    /// The applied version, as one statement a cold start can send along with its first operation.
    static let versionQuery: PostgresQuery = "SELECT coalesce(max(version), 0) FROM wxauth_schema_migrations"

    /// Whether `versionQuery`'s result says every migration is applied.
    static func isCurrent(_ result: PostgresResult) -> Bool {
        ((try? result.first?.decode(Int.self, at: 0)) ?? 0) >= migrations.count
    }

    private static func appliedVersion(_ connection: PostgresConnection) throws -> Int {
        try connection.query(versionQuery).first?.decode(Int.self, at: 0) ?? 0
    }
}
