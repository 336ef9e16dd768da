/// The SQLite schema as numbered migrations; `PRAGMA user_version` records how many have run.
enum SQLiteSchema {
    static let migrations: [String] = [
        // 1: users, their WeChat identities, refresh-token families and hashed tokens.
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            unionid TEXT UNIQUE,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE identities (
            appid TEXT NOT NULL,
            openid TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            session_key BLOB,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (appid, openid)
        );
        CREATE INDEX identities_user ON identities(user_id);
        CREATE TABLE refresh_families (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            appid TEXT NOT NULL,
            openid TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER,
            revoke_reason TEXT
        );
        CREATE TABLE refresh_tokens (
            hash BLOB PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES refresh_families(id),
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            spent_at INTEGER
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
        CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
        """,
        // 2: profiles shared through encrypted data and phone numbers; the app token shared by all instances.
        """
        ALTER TABLE users ADD COLUMN nickname TEXT;
        ALTER TABLE users ADD COLUMN picture TEXT;
        ALTER TABLE users ADD COLUMN gender INTEGER;
        ALTER TABLE users ADD COLUMN city TEXT;
        ALTER TABLE users ADD COLUMN province TEXT;
        ALTER TABLE users ADD COLUMN country TEXT;
        ALTER TABLE users ADD COLUMN language TEXT;
        ALTER TABLE users ADD COLUMN phone_number TEXT;
        ALTER TABLE users ADD COLUMN phone_country_code TEXT;
        CREATE TABLE app_tokens (
            appid TEXT PRIMARY KEY,
            token BLOB,
            expires_at INTEGER NOT NULL DEFAULT 0,
            lease_holder TEXT,
            lease_until INTEGER NOT NULL DEFAULT 0
        );
        """,
        // 3: web sign-in: states between GET /login and the callback; WeChat's web tokens per identity.
        """
        CREATE TABLE web_states (
            id TEXT PRIMARY KEY,
            appid TEXT NOT NULL,
            scope TEXT NOT NULL,
            return_to TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            code_hash BLOB,
            outcome BLOB
        );
        CREATE INDEX web_states_expiry ON web_states(expires_at);
        ALTER TABLE identities ADD COLUMN web_tokens BLOB;
        """,
        // 4: the circuit breaker on WeChat, shared by every instance; nonces of signed admin requests.
        """
        CREATE TABLE circuits (
            name TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            window_start INTEGER NOT NULL,
            open_until INTEGER NOT NULL,
            probe_until INTEGER NOT NULL
        );
        CREATE TABLE admin_nonces (
            key_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (key_id, nonce)
        );
        CREATE INDEX admin_nonces_expiry ON admin_nonces(expires_at);
        """,
    ]
}
