import Crypto
import FunctionRuntime
import TestSupport
import Testing

@testable import WXAuth

/// CONTRACT §9's signature check, with the clock fixed: the window's edges exactly.
@Suite struct SignedRequestTests {
    let key = Array(repeating: UInt8(7), count: 32)
    var keys: AdminKeys { AdminKeys(kid: "k1", key: key) }

    func request(
        timestamp: String,
        nonce: String = "abcdefghijklmnop",
        signatureKey: [UInt8]? = nil,
        body: String = "{}"
    )
        -> FunctionRequest
    {
        let signature = SignedRequest.signature(
            key: SymmetricKey(data: signatureKey ?? key),
            method: "POST",
            path: "/admin/revoke",
            timestamp: timestamp,
            nonce: nonce,
            body: Array(body.utf8)
        )
        return FunctionRequest(
            method: "POST",
            path: "/admin/revoke",
            headers: [
                "x-wxauth-key-id": "k1", "x-wxauth-timestamp": timestamp, "x-wxauth-nonce": nonce,
                "x-wxauth-signature": signature,
            ],
            body: Array(body.utf8)
        )
    }

    @Test func acceptsTimestampsWithin300SecondsAndRememberesTheNonceUntilTheyLeaveTheWindow() throws {
        for offset: Int64 in [-300, 0, 300] {
            let verified = try SignedRequest.verify(
                request(timestamp: String(1_000_000 + offset)),
                keys: keys,
                now: 1_000_000
            ).get()
            #expect(verified.keyId == "k1" && verified.nonce == "abcdefghijklmnop")
            #expect(verified.nonceExpiresAt == 1_000_000 + offset + 301)
        }
    }

    @Test func refusesWhatTheContractRefuses() {
        let now: Int64 = 1_000_000
        let cases: [(FunctionRequest, SignedRequest.Refusal)] = [
            (request(timestamp: "999699"), .staleTimestamp),
            (request(timestamp: "1000301"), .staleTimestamp),
            (request(timestamp: "99999999999999999999999"), .staleTimestamp),
            (request(timestamp: "-1000000"), .staleTimestamp),
            (request(timestamp: "1000000", nonce: "short"), .badNonce),
            (request(timestamp: "1000000", nonce: "has space in it!!"), .badNonce),
            (request(timestamp: "1000000", nonce: String(repeating: "a", count: 65)), .badNonce),
            (request(timestamp: "1000000", signatureKey: Array(repeating: 8, count: 32)), .badSignature),
        ]
        for (request, refusal) in cases {
            guard case .failure(let reason) = SignedRequest.verify(request, keys: keys, now: now) else {
                Issue.record("accepted: \(request.headers)")
                continue
            }
            #expect(reason == refusal)
        }
        var unknown = request(timestamp: "1000000")
        unknown.headers["x-wxauth-key-id"] = "k2"
        #expect(throws: SignedRequest.Refusal.unknownKey) {
            try SignedRequest.verify(unknown, keys: keys, now: now).get()
        }
    }

    @Test func adminKeySetsAreCheckedWithoutEchoingKeys() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
        for text in [
            "not json", #"{"keys":[]}"#, #"{"keys":[{"kty":"oct","kid":"a","k":"c2hvcnQ"}]}"#,
            #"{"keys":[{"kty":"EC","kid":"a","k":"\#(secret)"}]}"#,
            #"{"keys":[{"kty":"oct","kid":"a","k":"\#(secret)"},{"kty":"oct","kid":"a","k":"\#(secret)"}]}"#,
        ] {
            #expect(throws: AuthError.self) { try AdminKeys(jwkSet: text) }
            do {
                _ = try AdminKeys(jwkSet: text)
            } catch {
                #expect(error.description.contains("WXAUTH_ADMIN_KEYS"))
                assertNoSecrets([secret], in: error.description)
            }
        }
        #expect(throws: Never.self) { try AdminKeys(jwkSet: #"{"keys":[{"kty":"oct","kid":"a","k":"\#(secret)"}]}"#) }
    }
}
