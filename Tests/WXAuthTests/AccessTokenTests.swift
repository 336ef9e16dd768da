import Crypto
import Encodings
import Foundation
import TestSupport
import Testing
import WeChat

@testable import WXAuth

/// Keys and hand-made tokens for the attacks of CONTRACT §5.
enum TokenFixture {
    static let now: Int64 = 1_700_000_000

    static func keySet(_ jwks: [String]) throws -> SigningKeySet {
        try SigningKeySet(jwkSet: #"{"keys":["# + jwks.joined(separator: ",") + "]}")
    }

    static func jwk(_ algorithm: SigningAlgorithm, kid: String) throws -> String {
        try KeyGeneration.newJWK(algorithm: algorithm.rawValue, kid: kid)
    }

    static func tokens(_ keys: SigningKeySet) -> AccessTokens {
        AccessTokens(keys: keys, issuer: "wxauth", audience: "wxauth", ttl: 900)
    }

    static func b64(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    static func claims(
        exp: String = "1700000900",
        iat: String = "1700000000",
        extra: String = "",
        iss: String = "wxauth",
        aud: String = #""wxauth""#
    ) -> String {
        #"{"iss":"\#(iss)","aud":\#(aud),"sub":"u1","iat":\#(iat),"exp":\#(exp),"jti":"j","client_id":"wxa","sid":"s1"\#(extra)}"#
    }

    /// A token with any header and payload, signed by `key` whatever the header says.
    static func forged(header: String, payload: String = claims(), by key: SigningKey) throws -> String {
        let input = b64(header) + "." + b64(payload)
        return input + "." + Base64URL.encode(try key.sign(Array(input.utf8)))
    }
}

@Suite struct AccessTokenTests {
    @Test(arguments: SigningAlgorithm.allCases)
    func everyAlgorithmSignsAnRFC9068TokenThatVerifies(algorithm: SigningAlgorithm) throws {
        let tokens = TokenFixture.tokens(try TokenFixture.keySet([try TokenFixture.jwk(algorithm, kid: "k1")]))
        let token = try tokens.issue(subject: "u1", session: "s1", clientId: "wxmini", jti: "j1", now: TokenFixture.now)
        let header = try TokenHeader(of: token)
        #expect(header.alg == algorithm.rawValue)
        #expect(header.typ == "at+jwt")
        #expect(header.kid == "k1")
        let claims = try TokenClaims(of: token)
        #expect(claims.exp == 1_700_000_900 && claims.iat == 1_700_000_000)
        #expect(claims.client_id == "wxmini" && claims.sid == "s1")
        #expect(claims.iss == "wxauth" && claims.aud == "wxauth" && claims.jti == "j1")
        let verified = try tokens.verify(token, now: TokenFixture.now + 100)
        #expect(verified.sub == "u1" && verified.sid == "s1" && verified.jti == "j1" && verified.clientId == "wxmini")
    }

    @Test func theSecretAloneGivesHS256WithAStableKid() throws {
        let a = TokenFixture.tokens(SigningKeySet(secret: Secret(Fixture.jwtSecret)))
        let b = TokenFixture.tokens(SigningKeySet(secret: Secret(Fixture.jwtSecret)))
        let other = TokenFixture.tokens(SigningKeySet(secret: Secret(String(repeating: "q", count: 40))))
        #expect(a.keys.signer.kid == b.keys.signer.kid && a.keys.signer.kid != other.keys.signer.kid)
        assertNoSecrets([String(Fixture.jwtSecret.prefix(8))], in: a.keys.signer.kid)
        let token = try a.issue(subject: "u1", session: "s1", clientId: "wxa", jti: "j", now: TokenFixture.now)
        #expect(try b.verify(token, now: TokenFixture.now).sub == "u1")
        #expect(throws: AuthError.self) { try other.verify(token, now: TokenFixture.now) }
        #expect(a.keys.publicJWKSet == #"{"keys":[]}"#)
    }

    @Test func expiryAndNotBeforeAndIssuedAtHonourThirtySecondsOfLeeway() throws {
        let key = try TokenFixture.keySet([try TokenFixture.jwk(.es256, kid: "k")])
        let tokens = TokenFixture.tokens(key)
        let token = try tokens.issue(subject: "u1", session: "s1", clientId: "wxa", jti: "j", now: TokenFixture.now)
        _ = try tokens.verify(token, now: TokenFixture.now + 929)
        #expect(throws: AuthError.self) { try tokens.verify(token, now: TokenFixture.now + 930) }
        _ = try tokens.verify(token, now: TokenFixture.now - 30)
        #expect(throws: AuthError.self) { try tokens.verify(token, now: TokenFixture.now - 31) }

        let header = #"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#
        let notYet = try TokenFixture.forged(
            header: header,
            payload: TokenFixture.claims(exp: "1700009999", extra: #","nbf":1700003600"#),
            by: key.signer
        )
        #expect(throws: AuthError.self) { try tokens.verify(notYet, now: TokenFixture.now) }
        #expect(throws: AuthError.self) { try tokens.verify(notYet, now: 1_700_003_569) }
        _ = try tokens.verify(notYet, now: 1_700_003_570)
        let past = try TokenFixture.forged(
            header: header,
            payload: TokenFixture.claims(extra: #","nbf":1699999000"#),
            by: key.signer
        )
        #expect(try tokens.verify(past, now: TokenFixture.now).nbf == 1_699_999_000)
    }

    /// CONTRACT §5's attacks, each signed with a listed key so only the check under test can refuse it.
    @Test func everyAttackOfTheContractIsRefused() throws {
        let ec = try TokenFixture.jwk(.es256, kid: "ec")
        let hs = try TokenFixture.jwk(.hs256, kid: "hs")
        let keys = try TokenFixture.keySet([ec, hs])
        let tokens = TokenFixture.tokens(keys)
        let ecKey = try #require(keys.key(kid: "ec"))
        let hsKey = try #require(keys.key(kid: "hs"))
        let good = #"{"alg":"ES256","typ":"at+jwt","kid":"ec"}"#
        _ = try tokens.verify(try TokenFixture.forged(header: good, by: ecKey), now: TokenFixture.now)

        // HS256 keyed with the ES256 key's public JWK (what a confused verifier would use as the secret).
        let publicJWK = keys.publicJWKSet
        let confusedKey = SigningKey(kid: "ec", material: .hmac(SymmetricKey(data: Array(publicJWK.utf8))))
        guard case .p256(let ecPrivate) = ecKey.material else { throw CancellationError() }
        let x963 = SigningKey(kid: "ec", material: .hmac(SymmetricKey(data: ecPrivate.publicKey.x963Representation)))
        let input =
            TokenFixture.b64(#"{"alg":"none","typ":"at+jwt","kid":"ec"}"#) + "."
            + TokenFixture.b64(TokenFixture.claims())
        let attacks: [(String, String)] = [
            ("alg none", input + "."),
            (
                "alg switch to HS256 under an ES256 kid",
                try TokenFixture.forged(header: #"{"alg":"HS256","typ":"at+jwt","kid":"ec"}"#, by: hsKey)
            ),
            (
                "HS256 keyed with the public JWK",
                try TokenFixture.forged(header: #"{"alg":"HS256","typ":"at+jwt","kid":"ec"}"#, by: confusedKey)
            ),
            (
                "HS256 keyed with public bytes",
                try TokenFixture.forged(header: #"{"alg":"HS256","typ":"at+jwt","kid":"ec"}"#, by: x963)
            ),
            (
                "alg switch to ES256 under an HS256 kid",
                try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt","kid":"hs"}"#, by: ecKey)
            ),
            (
                "unknown kid",
                try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt","kid":"gone"}"#, by: ecKey)
            ),
            ("no kid", try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt"}"#, by: ecKey)),
            (
                "crit",
                try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt","kid":"ec","crit":["exp"]}"#, by: ecKey)
            ),
            (
                "empty crit",
                try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt","kid":"ec","crit":[]}"#, by: ecKey)
            ),
            ("typ JWT", try TokenFixture.forged(header: #"{"alg":"ES256","typ":"JWT","kid":"ec"}"#, by: ecKey)),
            ("no typ", try TokenFixture.forged(header: #"{"alg":"ES256","kid":"ec"}"#, by: ecKey)),
            (
                "repeated header member",
                try TokenFixture.forged(header: #"{"alg":"ES256","typ":"at+jwt","kid":"ec","kid":"hs"}"#, by: ecKey)
            ),
            (
                "nbf an hour ahead",
                try TokenFixture.forged(
                    header: good,
                    payload: TokenFixture.claims(extra: #","nbf":1700003600"#),
                    by: ecKey
                )
            ),
            (
                "nbf as a string",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(extra: #","nbf":"0""#), by: ecKey)
            ),
            (
                "exp Int64.max",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(exp: String(Int64.max)), by: ecKey)
            ),
            (
                "exp past Int64",
                try TokenFixture.forged(
                    header: good,
                    payload: TokenFixture.claims(exp: "99999999999999999999999"),
                    by: ecKey
                )
            ),
            (
                "iat Int64.min",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(iat: String(Int64.min)), by: ecKey)
            ),
            ("iat negative", try TokenFixture.forged(header: good, payload: TokenFixture.claims(iat: "-1"), by: ecKey)),
            (
                "exp as a string",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(exp: #""1700000900""#), by: ecKey)
            ),
            (
                "exp fractional",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(exp: "1700000900.5"), by: ecKey)
            ),
            (
                "exp with exponent",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(exp: "1.7e9"), by: ecKey)
            ),
            ("exp 1e300", try TokenFixture.forged(header: good, payload: TokenFixture.claims(exp: "1e300"), by: ecKey)),
            (
                "iat in the future",
                try TokenFixture.forged(
                    header: good,
                    payload: TokenFixture.claims(exp: "1700009999", iat: "1700000100"),
                    by: ecKey
                )
            ),
            (
                "repeated claim",
                try TokenFixture.forged(
                    header: good,
                    payload: TokenFixture.claims(extra: #","sub":"admin""#),
                    by: ecKey
                )
            ),
            (
                "other issuer",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(iss: "evil"), by: ecKey)
            ),
            (
                "other audience",
                try TokenFixture.forged(header: good, payload: TokenFixture.claims(aud: #"["other"]"#), by: ecKey)
            ),
            (
                "no client_id",
                try TokenFixture.forged(
                    header: good,
                    payload:
                        #"{"iss":"wxauth","aud":"wxauth","sub":"u1","iat":1700000000,"exp":1700000900,"jti":"j","sid":"s1"}"#,
                    by: ecKey
                )
            ),
            ("bad signature", String(try TokenFixture.forged(header: good, by: ecKey).dropLast(4)) + "AAAA"),
            ("not a JWT", "not.a.jwt"), ("two parts", "a.b"), ("empty", ""),
            ("huge", String(repeating: "x", count: 9000)),
        ]
        for (name, token) in attacks {
            let error = #expect(throws: AuthError.self, "\(name)") { try tokens.verify(token, now: TokenFixture.now) }
            #expect(error?.code == "invalid_token" && error?.status == 401, "\(name)")
        }
        // An audience list that includes ours is fine (RFC 7519 §4.1.3).
        _ = try tokens.verify(
            try TokenFixture.forged(header: good, payload: TokenFixture.claims(aud: #"["x","wxauth"]"#), by: ecKey),
            now: TokenFixture.now
        )
    }

    @Test func rotationKeepsOldTokensWhileTheirKeyIsListed() throws {
        let old = try TokenFixture.jwk(.eddsa, kid: "old")
        let new = try TokenFixture.jwk(.es256, kid: "new")
        let before = TokenFixture.tokens(try TokenFixture.keySet([old]))
        let during = TokenFixture.tokens(try TokenFixture.keySet([new, old]))
        let after = TokenFixture.tokens(try TokenFixture.keySet([new]))
        let oldToken = try before.issue(subject: "u1", session: "s1", clientId: "wxa", jti: "j", now: TokenFixture.now)
        #expect(try during.verify(oldToken, now: TokenFixture.now).sub == "u1")
        #expect(throws: AuthError.self) { try after.verify(oldToken, now: TokenFixture.now) }
        let newToken = try during.issue(subject: "u1", session: "s1", clientId: "wxa", jti: "j", now: TokenFixture.now)
        #expect(try TokenHeader(of: newToken).kid == "new")
        #expect(try after.verify(newToken, now: TokenFixture.now).sub == "u1")
    }

    @Test func theJWKSHasPublicMembersOfAsymmetricKeysOnly() throws {
        let keys = try TokenFixture.keySet(
            try SigningAlgorithm.allCases.map { try TokenFixture.jwk($0, kid: $0.rawValue) }
        )
        let published = try decodeJSON(KeySet.self, from: keys.publicJWKSet).keys
        #expect(published.map { $0["kid"] } == ["ES256", "EdDSA", "RS256"])
        for jwk in published {
            #expect(Set(jwk.keys).isDisjoint(with: ["d", "p", "q", "dp", "dq", "qi", "k"]))
            #expect(jwk["use"] == "sig" && jwk["alg"] == jwk["kid"])
        }
        #expect(published[0]["kty"] == "EC" && published[0]["crv"] == "P-256" && published[0]["y"] != nil)
        #expect(published[1]["kty"] == "OKP" && published[1]["crv"] == "Ed25519")
        #expect(published[2]["kty"] == "RSA" && published[2]["e"] == "AQAB" && (published[2]["n"]?.count ?? 0) >= 342)
    }
}

@Suite struct KeySetConfigTests {
    static let weakRSA: String = {
        // A 1024-bit modulus in an otherwise well-formed JWK: refused for its size before anything else.
        #"{"kty":"RSA","kid":"r","alg":"RS256","n":"\#(Base64URL.encode([0xC1] + Array(repeating: 0x11, count: 127)))","e":"AQAB","d":"AQ","p":"AQ","q":"AQ"}"#
    }()

    @Test(arguments: [
        (#"not json"#, "must be a JWK Set"),
        (#"{"keys":[]}"#, "lists no key"),
        (
            #"{"keys":[{"kty":"oct","kid":"a","alg":"HS512","k":"\#(String(repeating: "A", count: 43))"}]}"#,
            "alg that is not"
        ),
        (
            #"{"keys":[{"kty":"oct","kid":"a","alg":"none","k":"\#(String(repeating: "A", count: 43))"}]}"#,
            "alg that is not"
        ),
        (#"{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"c2hvcnQ"}]}"#, "too weak"),
        (#"{"keys":[\#(weakRSA)]}"#, "too weak"),
        (#"{"keys":[{"kty":"oct","alg":"HS256","k":"\#(String(repeating: "A", count: 43))"}]}"#, "needs a kid"),
        (
            #"{"keys":[{"kty":"EC","kid":"a","alg":"HS256","k":"\#(String(repeating: "A", count: 43))"}]}"#,
            "does not go with kty"
        ),
        (
            #"{"keys":[{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"AAAA","y":"AAAA","d":"c2VjcmV0LXZhbHVl"}]}"#,
            "not a valid P-256"
        ),
    ])
    func aBadSigningKeySetIsAServerErrorNamingTheSettingButNoValue(text: String, expected: String) throws {
        let error = #expect(throws: ConfigError.self) {
            try Config(environment: ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_SIGNING_KEYS": text])
        }
        let description = error?.description ?? ""
        #expect(description.contains("WXAUTH_SIGNING_KEYS") && description.contains(expected), "\(description)")
        for value in ["c2VjcmV0LXZhbHVl", "c2hvcnQ", String(repeating: "A", count: 43)] {
            #expect(!description.contains(value))
        }
    }

    @Test func duplicateKidsAndMissingDataKeysAreRefused() throws {
        let jwk = try TokenFixture.jwk(.es256, kid: "same")
        let duplicate = #expect(throws: ConfigError.self) {
            try Config(environment: [
                "WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_SIGNING_KEYS": #"{"keys":[\#(jwk),\#(jwk)]}"#,
            ])
        }
        #expect(duplicate?.description == #"WXAUTH_SIGNING_KEYS lists the kid "same" twice"#)
        let noData = #expect(throws: ConfigError.self) {
            try Config(environment: ["WXAUTH_SIGNING_KEYS": #"{"keys":[\#(jwk)]}"#])
        }
        #expect(noData?.description.hasPrefix("WXAUTH_DATA_KEYS is not set") == true)
        let dataKey = try KeyGeneration.newJWK(algorithm: "A256GCM", kid: "d1")
        let config = try Config(environment: [
            "WXAUTH_SIGNING_KEYS": #"{"keys":[\#(jwk)]}"#, "WXAUTH_DATA_KEYS": #"{"keys":[\#(dataKey)]}"#,
        ])
        #expect(
            config.jwtSecret == nil && config.signingKeys.signer.kid == "same"
                && config.dataKeys.entries.map(\.kid) == ["d1"]
        )
        let shortData = #expect(throws: ConfigError.self) {
            try Config(environment: [
                "WXAUTH_JWT_SECRET": Fixture.jwtSecret,
                "WXAUTH_DATA_KEYS": #"{"keys":[{"kty":"oct","kid":"d","k":"c2hvcnQ"}]}"#,
            ])
        }
        #expect(
            shortData?.description.contains("WXAUTH_DATA_KEYS") == true
                && shortData?.description.contains("c2hvcnQ") == false
        )
    }
}

@Suite struct DataKeyringTests {
    static func ring(_ kids: [String], keys: inout [String: String], secret: Secret? = nil) throws -> DataKeyring {
        let jwks = try kids.map { kid in
            if let jwk = keys[kid] { return jwk }
            let jwk = try KeyGeneration.newJWK(algorithm: "A256GCM", kid: kid)
            keys[kid] = jwk
            return jwk
        }
        return try DataKeyring(jwkSet: #"{"keys":[\#(jwks.joined(separator: ","))]}"#, secret: secret)
    }

    @Test func valuesSealedUnderOneSetOpenAfterARotationUntilTheirKeyIsRemoved() throws {
        var keys: [String: String] = [:]
        let sealed = try Self.ring(["a"], keys: &keys).box(purpose: "p").seal(Secret("session-key"))
        #expect(sealed.count > 3 + 1 + 1 + 12 + 16)
        let rotated = try Self.ring(["b", "a"], keys: &keys)
        #expect(try rotated.box(purpose: "p").open(sealed).revealed == "session-key")
        let resealed = try rotated.box(purpose: "p").seal(Secret("session-key"))
        #expect(Array(resealed[4..<5]) == Array("b".utf8))
        #expect(throws: (any Error).self) { try rotated.box(purpose: "other").open(sealed) }
        #expect(throws: (any Error).self) { try Self.ring(["b"], keys: &keys).box(purpose: "p").open(sealed) }
        #expect(try Self.ring(["b"], keys: &keys).box(purpose: "p").open(resealed).revealed == "session-key")
    }

    @Test func authenticationCodesVerifyUnderEveryListedKeySoInFlightStatesSurviveARotation() throws {
        var keys: [String: String] = [:]
        let message = Array("state".utf8)
        let tag = Array(try Self.ring(["a"], keys: &keys).box(purpose: "s").authenticationCode(message).prefix(16))
        #expect(try Self.ring(["b", "a"], keys: &keys).box(purpose: "s").isAuthenticationCode(tag, of: message))
        #expect(try !Self.ring(["b"], keys: &keys).box(purpose: "s").isAuthenticationCode(tag, of: message))
        #expect(try !Self.ring(["b", "a"], keys: &keys).box(purpose: "t").isAuthenticationCode(tag, of: message))
        #expect(try !Self.ring(["a"], keys: &keys).box(purpose: "s").isAuthenticationCode([], of: message))
    }

    @Test func valuesSealedBeforeKidsStillOpenWithTheSecretAloneOrBesideAKeySet() throws {
        // Exactly what the sealing code wrote before the keyring: nonce ‖ ciphertext ‖ tag under the HKDF of the secret.
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(Fixture.jwtSecret.utf8)),
            salt: Array("wxauth".utf8),
            info: Array("wxauth/at-rest/v1".utf8),
            outputByteCount: 32
        )
        let legacy = Array(try AES.GCM.seal(Array("old-session-key".utf8), using: key).combined!)
        let secret = Secret(Fixture.jwtSecret)
        #expect(
            try DataKeyring(secret: secret).box(purpose: "wxauth/at-rest/v1").open(legacy).revealed == "old-session-key"
        )
        var keys: [String: String] = [:]
        let withSet = try Self.ring(["a"], keys: &keys, secret: secret)
        #expect(try withSet.box(purpose: "wxauth/at-rest/v1").open(legacy).revealed == "old-session-key")
        // Values the derived key sealed (with its kid) open too once a key set takes over sealing.
        let derivedSealed = try DataKeyring(secret: secret).box(purpose: "x").seal(Secret("v"))
        #expect(try withSet.box(purpose: "x").open(derivedSealed).revealed == "v")
        #expect(throws: (any Error).self) {
            try Self.ring(["a"], keys: &keys).box(purpose: "wxauth/at-rest/v1").open(legacy)
        }
        // The state MAC is unchanged for a deployment that keeps only the secret.
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("m".utf8),
            using: HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: Array(Fixture.jwtSecret.utf8)),
                salt: Array("wxauth".utf8),
                info: Array("wxauth/state/v1".utf8),
                outputByteCount: 32
            )
        )
        #expect(
            DataKeyring(secret: secret).box(purpose: "wxauth/state/v1").authenticationCode(Array("m".utf8))
                == Array(mac)
        )
    }
}
