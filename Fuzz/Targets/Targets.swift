import Crypto
import Encodings
import Foundation
import Logging
import PostgresWire
import WXAuthStore

@testable import FunctionRuntime
@testable import HTTPWire
@testable import WXAuth
@testable import WeChat

/// One fuzz target: what it does with one input. A crash, a failed `precondition` (an invariant broken) or a
/// sanitizer report is a finding; anything thrown is the parser refusing the input, as it should.
struct FuzzTarget: Sendable {
    let run: @Sendable ([UInt8]) -> Void

    static let names = [
        "event", "json", "body", "query", "cookies", "return-to", "state", "user-data", "wechat", "access-token",
        "http-response",
        "postgres",
    ]

    /// The target called `name`, with whatever it prepares once (keys, services).
    static func make(_ name: String) async -> FuzzTarget? {
        switch name {
        case "event": FuzzTarget(run: event)
        case "json": FuzzTarget(run: json)
        case "body": FuzzTarget(run: body)
        case "query": FuzzTarget(run: query)
        case "cookies": FuzzTarget(run: cookies)
        case "return-to": FuzzTarget(run: returnTo)
        case "state": await state()
        case "user-data": FuzzTarget(run: userData)
        case "wechat": FuzzTarget(run: wechat)
        case "access-token": await accessToken()
        case "http-response": FuzzTarget(run: httpResponse)
        case "postgres": FuzzTarget(run: postgres)
        default: nil
        }
    }

    // MARK: PostgreSQL's backend messages

    /// Bytes from a PostgreSQL server, as the wire client cuts and reads them, arriving in two chunks split
    /// where the first byte says: every message fits in what arrived, and each body parser refuses or accepts
    /// without trapping.
    static func postgres(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let input = bytes.dropFirst()
        let split = input.startIndex + Int(first) % (input.count + 1)
        var reader = BackendMessageReader()
        var received = 0
        for chunk in [input[..<split], input[split...]] {
            reader.append(chunk)
            received += chunk.count
            while let message = try? reader.next() {
                precondition(message.body.count + 5 <= received, "a message longer than what arrived")
                switch message.type {
                case UInt8(ascii: "D"): _ = try? parseDataRow(message.body)
                case UInt8(ascii: "T"): _ = try? parseRowDescription(message.body)
                case UInt8(ascii: "E"), UInt8(ascii: "N"): _ = try? parseNoticeFields(message.body)
                default:
                    var fields = MessageFields(message.body)
                    _ = try? fields.int32()
                    _ = try? fields.cString()
                }
            }
        }
    }

    // MARK: Events, bodies, forms, cookies

    /// stdin bytes → event → request, as every function decodes them.
    static func event(_ bytes: [UInt8]) {
        _ = try? APIGatewayEvent.decode(bytes).request(maxBodyBytes: 64 * 1024, fallbackRequestId: "fuzz")
    }

    /// The one JSON parser (events, bodies, WeChat's answers, decrypted data): whatever it accepts, it
    /// accepts again once re-encoded, and numbers it returns are RFC 8259 numbers.
    static func json(_ bytes: [UInt8]) {
        guard let value = try? EventJSON.parse(bytes) else { return }
        precondition(
            (try? EventJSON.parse(Array(encode(value).utf8))) == value,
            "re-encoded JSON does not parse the same"
        )
    }

    private static func encode(_ value: EventJSON) -> String {
        switch value {
        case .object(let members):
            "{" + members.map { JSONText.quote($0.0) + ":" + encode($0.1) }.joined(separator: ",") + "}"
        case .array(let items): "[" + items.map(encode).joined(separator: ",") + "]"
        case .string(let text): JSONText.quote(text)
        case .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        }
    }

    /// A request body, as JSON or as a form (the first byte chooses), read the way the functions read it.
    static func body(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let contentType = first & 1 == 0 ? "application/json" : "application/x-www-form-urlencoded"
        let request = FunctionRequest(
            method: "POST",
            path: "/login",
            headers: ["content-type": contentType],
            body: Array(bytes.dropFirst())
        )
        guard let fields = try? RequestFields(request) else { return }
        for name in ["code", "encryptedData", "iv", "rawData", "signature", "phoneCode", "refresh_token"] {
            _ = try? fields.optional(name)
        }
    }

    /// Query strings and the strict percent-decoder of redirect targets and database URLs.
    static func query(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = QueryString.parse(text)
        if let decoded = PercentDecoding.strict(text) {
            precondition(QueryString.percentDecode(QueryString.percentEncode(decoded)) == decoded, "percent round trip")
        }
        _ = DatabaseURL(text)
        _ = try? PostgresSettings(url: text)
    }

    /// `cookies` members and `Cookie` headers, one per line of the input.
    static func cookies(_ bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init
        )
        var event = APIGatewayEvent()
        event.httpMethod = "GET"
        event.cookies = Array(lines.dropFirst())
        event.headers = lines.first.map { header -> [(String, String?)] in [("Cookie", header)] }
        guard let request = try? event.request(maxBodyBytes: 1024, fallbackRequestId: "fuzz") else { return }
        for (name, value) in request.cookies {
            // Bytes, not `String.contains`: Swift's substring search answers true for some strings of U+FFFD and
            // combining marks that hold no ';' at all (the input kept as cookies/false-positive-substring-search).
            precondition(
                !name.utf8.contains(UInt8(ascii: ";")) && !value.utf8.contains(UInt8(ascii: ";")),
                "a cookie swallowed its separator"
            )
        }
    }

    // MARK: Web sign-in

    static let allowList = ["/", "/app", "https://a.example/cb"]

    /// `return_to`: whatever is accepted stays on this site or on the allowed origin.
    static func returnTo(_ bytes: [UInt8]) {
        let raw = String(decoding: bytes, as: UTF8.self)
        guard let accepted = try? ReturnTo.validate(raw, allowList: allowList) else { return }
        if accepted.hasPrefix("/") {
            precondition(!accepted.hasPrefix("//"), "a protocol-relative return_to was accepted")
            let decoded = PercentDecoding.strict(accepted) ?? ""
            precondition(
                !decoded.hasPrefix("//") && !decoded.utf8.contains(UInt8(ascii: "\\")),
                "an encoded open redirect was accepted"
            )
        } else {
            precondition(ReturnTo.matches(accepted, entry: "https://a.example/cb"), "another origin was accepted")
        }
    }

    static let jwtSecret = Secret("fuzz-jwt-secret-that-is-long-enough-0123456789")
    static let now: Int64 = 1_700_000_000

    /// Services over a memory store, a fixed key and fixed "random" bytes, for the verifiers that need them: what
    /// they issue is the same in every run, so the corpus can hold it.
    static func services() async -> Services {
        let config = Config(jwtSecret: jwtSecret)
        let tokens = AccessTokens(
            keys: SigningKeySet(secret: jwtSecret),
            issuer: config.issuer,
            audience: config.audience,
            ttl: 900
        )
        return Services(config: config, store: MemoryStore(), tokens: tokens, wechat: nil, random: FixedRandom())
    }

    struct FixedRandom: RandomSource {
        func bytes(_ count: Int) -> [UInt8] { Array(repeating: 0x5A, count: count) }
    }

    /// The web sign-in `state`: only the state this server made verifies (the corpus holds it).
    static func state() async -> FuzzTarget {
        let services = await services()
        let binding = LoginBinding.reuseOrMake(nil, random: services.random)
        let issued = SignedState.make(expiresAt: now + 600, binding: binding, services: services)
        StandardStreams.writeAll("state issued for the corpus: \(issued.state)\n", to: 2)
        return FuzzTarget { bytes in
            guard
                let verified = try? SignedState.verify(
                    String(decoding: bytes, as: UTF8.self),
                    now: now,
                    services: services
                )
            else { return }
            precondition(
                verified.id == issued.id && verified.bindingHash == binding.hash,
                "a state this server never made verified"
            )
        }
    }

    /// An access token, verified with a fixed key (HS256 with the JWT secret): whatever verifies carries a real
    /// HMAC of its own header and payload under that key — no `none`, no other algorithm, no unsigned part.
    static func accessToken() async -> FuzzTarget {
        let services = await services()
        let issued =
            (try? services.tokens.issue(subject: "u1", session: "s1", clientId: "wxfuzz", jti: "j1", now: now)) ?? ""
        StandardStreams.writeAll("access token issued for the corpus: \(issued)\n", to: 2)
        let key = SymmetricKey(data: Array(jwtSecret.revealed.utf8))
        return FuzzTarget { bytes in
            let token = String(decoding: bytes, as: UTF8.self)
            guard (try? services.tokens.verify(token, now: now + 1)) != nil else { return }
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            precondition(parts.count == 3, "a token without three parts verified")
            let expected = Array(
                HMAC<SHA256>.authenticationCode(for: Array("\(parts[0]).\(parts[1])".utf8), using: key)
            )
            precondition(base64URL(parts[2]) == expected, "a token not signed with the key verified")
        }
    }

    private static func base64URL(_ text: Substring) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map(Array.init)
    }

    // MARK: WeChat

    static let sessionKey = Secret("tiihtNczf5v6AKRyjwEUhQ==")
    static let iv: [UInt8] = Array(repeating: 7, count: 16)

    /// `encryptedData`: the first byte chooses between plaintext (encrypted here, so the JSON and watermark
    /// checks see it) and raw `encryptedData` + NUL + `iv` text (base64, lengths, AES-CBC padding).
    static func userData(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let encrypted: String
        let ivText: String
        if first & 1 == 0 {
            guard let sealed = try? UserDataCrypto.encrypt(rest, sessionKey: sessionKey, iv: iv) else { return }
            (encrypted, ivText) = sealed
        } else {
            let parts = rest.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            encrypted = String(decoding: parts[0], as: UTF8.self)
            ivText = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
        }
        _ = try? UserDataCrypto.decrypt(
            encryptedData: encrypted,
            iv: ivText,
            sessionKey: sessionKey,
            appid: "wxfuzz",
            now: Date(timeIntervalSince1970: Double(now)),
            window: .seconds(900)
        )
    }

    /// WeChat's answer bytes → a typed answer or a ``WeChatError``, for every endpoint (the first byte chooses).
    static func wechat(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let client = WeChatClient(
            apiBase: "http://wechat.fuzz",
            transport: Answer(body: Array(bytes.dropFirst())),
            clock: InstantClock(),
            retryPolicy: RetryPolicy(maxAttempts: 2, jitter: { _ in .zero }),
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let deadline = ContinuousClock.now + .seconds(60)
        blocking {
            switch first % 6 {
            case 0: _ = try? await client.codeToSession(appid: "wx", secret: Secret("s"), code: "c", deadline: deadline)
            case 1: _ = try? await client.stableAccessToken(appid: "wx", secret: Secret("s"), deadline: deadline)
            case 2:
                _ = try? await client.userPhoneNumber(
                    appAccessToken: Secret("t"),
                    code: "c",
                    openid: "o",
                    deadline: deadline
                )
            case 3:
                _ = try? await client.exchangeWebCode(appid: "wx", secret: Secret("s"), code: "c", deadline: deadline)
            case 4: _ = try? await client.webUserInfo(accessToken: Secret("t"), openid: "o", deadline: deadline)
            default: _ = try? await client.checkWebToken(accessToken: Secret("t"), openid: "o", deadline: deadline)
            }
        }
    }

    /// A transport that answers every request with the fuzz input.
    struct Answer: WeChatTransport {
        let body: [UInt8]
        func send(_ request: WeChatHTTPRequest, timeout: Duration) async throws -> WeChatHTTPResponse {
            WeChatHTTPResponse(status: 200, contentType: "text/plain", body: body)
        }
    }

    /// Retries without waiting.
    struct InstantClock: WeChatClock {
        var now: ContinuousClock.Instant { .now }
        func sleep(for duration: Duration) async throws {}
    }
}

/// Runs async work to its end from libFuzzer's synchronous callbacks (on the global executor, not the thread
/// libFuzzer blocks).
func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: T?
    Task.detached {
        result = await work()
        done.signal()
    }
    done.wait()
    return result!
}

extension FuzzTarget {
    // MARK: HTTP answers (WeChat's API, the runtime APIs)

    /// Bytes from a server → a response: never a body beyond the limit, and the same answer however the bytes
    /// are split across reads (the first byte picks the split point).
    static func httpResponse(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let answer = Array(bytes.dropFirst())
        let limit = 4096
        func parse(_ pieces: [ArraySlice<UInt8>]) -> HTTPWireResponse? {
            var parser = HTTPResponseParser(bodyLimit: limit, headLimit: 2048, isHEAD: first & 1 == 1)
            do {
                for piece in pieces {
                    if let response = try parser.feed(piece) { return response }
                }
                return try parser.finish()
            } catch {
                return nil
            }
        }
        let whole = parse([answer[...]])
        let split = answer.isEmpty ? 0 : Int(first) % (answer.count + 1)
        let pieces = parse([answer[..<split], answer[split...]])
        precondition(whole == pieces, "the answer depends on how its bytes were split")
        if let whole {
            precondition(whole.body.count <= limit, "a body beyond the limit")
            precondition((100...599).contains(whole.status), "a status out of range")
        }
    }
}
