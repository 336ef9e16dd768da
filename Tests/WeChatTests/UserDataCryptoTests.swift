import Foundation
import TestSupport
import Testing

@testable import WeChat

/// WeChat's official demo vector for `encryptedData`.
///
/// Source: the decryption demo WeChat published with its "open data verification and decryption" docs
/// (developers.weixin.qq.com/miniprogram/dev/framework/open-ability/signature.html, demo download), reproduced
/// in binarywang/WxJava `weixin-java-miniapp/src/test/java/cn/binarywang/wx/miniapp/util/crypt/WxMaCryptUtilsTest.java`
/// and other SDKs; see WECHAT.md §A4. The plaintext was checked byte for byte with openssl.
enum OfficialVector {
    static let appid = "wx4f4bc4dec97d474b"
    static let sessionKey = Secret("tiihtNczf5v6AKRyjwEUhQ==")
    static let iv = "r7BXXKkLb8qrSNn05n0qiA=="
    static let encryptedData =
        "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lG"
        + "OETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInN"
        + "lxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/"
        + "r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7Xjf"
        + "hQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
    static let plaintext =
        #"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","#
        + #""province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8K"#
        + #"jgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","#
        + #""watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#
    static let timestamp = 1_477_314_187
    /// A minute after the vector was made.
    static let now = Date(timeIntervalSince1970: TimeInterval(timestamp + 60))
}

@Suite struct UserDataCryptoTests {
    let window = Duration.seconds(600)

    func openVector(
        _ encryptedData: String = OfficialVector.encryptedData,
        iv: String = OfficialVector.iv,
        key: Secret = OfficialVector.sessionKey,
        appid: String = OfficialVector.appid,
        now: Date = OfficialVector.now
    ) throws(UserDataError) -> DecryptedUserData {
        try UserDataCrypto.decrypt(
            encryptedData: encryptedData,
            iv: iv,
            sessionKey: key,
            appid: appid,
            now: now,
            window: window
        )
    }

    func failure(_ body: () throws(UserDataError) -> DecryptedUserData) -> UserDataError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    // MARK: Official vector

    @Test func decryptsWeChatsOfficialVectorByteForByte() throws {
        let data = try openVector()
        #expect(data.json == Array(OfficialVector.plaintext.utf8))
        #expect(data.watermark == UserDataWatermark(appid: OfficialVector.appid, timestamp: OfficialVector.timestamp))
        #expect(data.openId == "oGZUI0egBJY1zhBYw2KhdUfwVJJE")
        #expect(data.unionId == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA")
        #expect(data.nickName == "Band")
        #expect(data.gender == 1)
        #expect(data.language == "zh_CN")
        #expect(data.city == "Guangzhou")
        #expect(data.province == "Guangdong")
        #expect(data.country == "CN")
        #expect(data.avatarUrl?.hasPrefix("http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPp") == true)
        #expect(data.phoneInfo == nil)
        #expect(data.string("openId") == data.openId)
    }

    // MARK: Tampering and wrong keys

    @Test func aFlippedLastByteBreaksThePadding() {
        var bytes = Array(Data(base64Encoded: OfficialVector.encryptedData) ?? Data())
        bytes[bytes.count - 1] ^= 0x01
        let error = failure { () throws(UserDataError) in try openVector(Data(bytes).base64EncodedString()) }
        #expect(error?.kind == .badPadding)
        #expect(error?.field == "encryptedData")
    }

    @Test func aTamperedMiddleBlockIsNotTrusted() {
        var bytes = Array(Data(base64Encoded: OfficialVector.encryptedData) ?? Data())
        bytes[100] ^= 0x55
        let error = failure { () throws(UserDataError) in try openVector(Data(bytes).base64EncodedString()) }
        #expect(error != nil)
        #expect([UserDataError.Kind.notJSON, .badPadding, .watermarkMismatch].contains(error?.kind))
    }

    @Test func aTruncatedCiphertextIsReportedAsSuch() {
        let bytes = Array(Data(base64Encoded: OfficialVector.encryptedData) ?? Data()).dropLast(5)
        let error = failure { () throws(UserDataError) in try openVector(Data(bytes).base64EncodedString()) }
        #expect(error?.kind == .badCiphertextLength)
        #expect(failure { () throws(UserDataError) in try openVector("") }?.kind == .badCiphertextLength)
    }

    @Test func aWrongOrStaleSessionKeyEndsInBadPadding() {
        let error = failure { () throws(UserDataError) in try openVector(key: Secret("HyVFkGl5F5OQWJZZaNzBBg==")) }
        #expect(error?.kind == .badPadding)
        #expect(error?.description.contains("session_key is stale") == true)
        #expect(error?.description.contains("HyVFkGl5F5OQWJZZaNzBBg==") == false)
    }

    @Test func aWrongIVGarblesTheFirstBlock() {
        let error = failure { () throws(UserDataError) in try openVector(iv: "AAAAAAAAAAAAAAAAAAAAAA==") }
        #expect(error?.kind == .notJSON)
    }

    @Test(arguments: ["AAAAAAAAAAA=", "", "AAAAAAAAAAAAAAAAAAAAAAAA"])
    func anIVThatIsNot16BytesIsRefused(iv: String) {
        let error = failure { () throws(UserDataError) in try openVector(iv: iv) }
        #expect(error?.kind == .badIVLength)
        #expect(error?.field == "iv")
    }

    @Test(arguments: [
        "AAAA", "", "tiihtNczf5v6AKRyjwEUhQ", "tiihtNczf5v6AKRyjwEUhQ==AAAA", "not base64 at all", "%3D%3D",
    ])
    func aSessionKeyThatIsNot16BytesIsRefused(key: String) {
        let error = failure { () throws(UserDataError) in try openVector(key: Secret(key)) }
        #expect(error?.kind == .badKeyLength)
        #expect(error?.field == "session_key")
    }

    // MARK: Client mistakes

    @Test func urlEncodedInputsAreDiagnosed() {
        let encoded = OfficialVector.encryptedData
            .replacingOccurrences(of: "+", with: "%2B")
            .replacingOccurrences(of: "/", with: "%2F")
            .replacingOccurrences(of: "=", with: "%3D")
        for input in [encoded, encoded.lowercased()] {
            let error = failure { () throws(UserDataError) in try openVector(input) }
            #expect(error?.kind == .looksURLEncoded)
            #expect(error?.field == "encryptedData")
            #expect(error?.description.contains("URL-encoded") == true)
        }
        let ivError = failure { () throws(UserDataError) in try openVector(iv: "r7BXXKkLb8qrSNn05n0qiA%3D%3D") }
        #expect(ivError?.kind == .looksURLEncoded)
        #expect(ivError?.field == "iv")
    }

    @Test func plusTurnedIntoSpacesIsDiagnosed() {
        let mangled = OfficialVector.encryptedData.replacingOccurrences(of: "+", with: " ")
        let error = failure { () throws(UserDataError) in try openVector(mangled) }
        #expect(error?.kind == .looksURLEncoded)
        #expect(error?.description.contains("turned '+' into spaces") == true)
    }

    @Test(arguments: ["not-base64!", "CiyLU1Aw2Kjv-jMdj8YKliAj", "Ciy=LU1A", "CiyLU1Aw2KjvrjMdj8YKliA", "CiyL\nU1Aw"])
    func otherBadBase64IsInvalidBase64(input: String) {
        #expect(failure { () throws(UserDataError) in try openVector(input) }?.kind == .invalidBase64)
    }

    // MARK: Watermark

    @Test func dataMadeForAnotherAppIsRefused() {
        let error = failure { () throws(UserDataError) in try openVector(appid: "wx0000000000000000") }
        #expect(error?.kind == .watermarkMismatch)
        #expect(error?.field == nil)
    }

    @Test func staleAndFutureWatermarksAreRefused() throws {
        let late = Date(timeIntervalSince1970: TimeInterval(OfficialVector.timestamp + 601))
        #expect(failure { () throws(UserDataError) in try openVector(now: late) }?.kind == .watermarkExpired)
        let early = Date(timeIntervalSince1970: TimeInterval(OfficialVector.timestamp - 601))
        #expect(failure { () throws(UserDataError) in try openVector(now: early) }?.kind == .watermarkExpired)
        let edge = Date(timeIntervalSince1970: TimeInterval(OfficialVector.timestamp + 600))
        #expect(try openVector(now: edge).watermark.timestamp == OfficialVector.timestamp)
    }

    // MARK: Our own ciphertexts

    let key = Secret("HyVFkGl5F5OQWJZZaNzBBg==")
    let iv = Array(0..<16).map { UInt8($0) }

    func seal(_ plaintext: String) throws(UserDataError) -> (encryptedData: String, iv: String) {
        try UserDataCrypto.encrypt(Array(plaintext.utf8), sessionKey: key, iv: iv)
    }

    func openSealed(
        _ plaintext: String,
        appid: String = "wxapp",
        now: Int = 1_700_000_000
    ) throws(UserDataError)
        -> DecryptedUserData
    {
        let sealed = try seal(plaintext)
        return try UserDataCrypto.decrypt(
            encryptedData: sealed.encryptedData,
            iv: sealed.iv,
            sessionKey: key,
            appid: appid,
            now: Date(timeIntervalSince1970: TimeInterval(now)),
            window: window
        )
    }

    @Test func roundTripsWithEncrypt() throws {
        let text = #"{"stepInfoList":[{"timestamp":1,"step":42}],"watermark":{"appid":"wxapp","timestamp":1700000000}}"#
        let data = try openSealed(text)
        #expect(String(decoding: data.json, as: UTF8.self) == text)
    }

    @Test func oldStylePhoneDataIsReadWithANumericCountryCode() throws {
        let text =
            #"{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":86,"#
            + #""watermark":{"appid":"wxapp","timestamp":1700000000}}"#
        let phone = try #require(try openSealed(text).phoneInfo)
        #expect(phone.phoneNumber == "13580006666")
        #expect(phone.countryCode == "86")
        #expect(phone.watermarkAppid == "wxapp")
    }

    @Test(arguments: [
        (#"[1,2,3]"#, UserDataError.Kind.notJSON),
        (#"{"watermark":"#, .notJSON),
        ("\u{FEFF}not json", .notJSON),
        (#"{"nickName":"x"}"#, .watermarkMismatch),
        (#"{"watermark":{"timestamp":1700000000}}"#, .watermarkMismatch),
        (#"{"watermark":{"appid":"wxapp"}}"#, .watermarkExpired),
        (#"{"watermark":{"appid":"wxapp","timestamp":1e300}}"#, .watermarkExpired),
        (#"{"watermark":{"appid":"wxapp","timestamp":"soon"}}"#, .watermarkExpired),
        (#"{"watermark":{"appid":1e300,"timestamp":1700000000}}"#, .watermarkMismatch),
        (#"{"watermark":[]}"#, .watermarkMismatch),
    ])
    func plaintextsThatAreNotTrustworthyAreRefused(plaintext: String, kind: UserDataError.Kind) {
        let error = failure { () throws(UserDataError) in try openSealed(plaintext) }
        #expect(error?.kind == kind)
    }

    @Test func invalidUTF8PlaintextIsNotJSON() throws {
        let sealed = try UserDataCrypto.encrypt([0x7B, 0xFF, 0xFE, 0x7D], sessionKey: key, iv: iv)
        let error = failure { () throws(UserDataError) in
            try UserDataCrypto.decrypt(
                encryptedData: sealed.encryptedData,
                iv: sealed.iv,
                sessionKey: key,
                appid: "wxapp",
                now: Date(timeIntervalSince1970: 1_700_000_000),
                window: window
            )
        }
        #expect(error?.kind == .notJSON)
    }

    // MARK: Fuzz

    @Test func garbageNeverCrashes() {
        var random = SeededGenerator(seed: 0x5EED_0F_DA7A)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=% \n-_".utf8)
        var outcomes: [String: Int] = [:]
        for round in 0..<3000 {
            let encryptedData: String
            let ivText: String
            let keyText: String
            switch round % 3 {
            case 0:
                // Random characters from base64's neighbourhood.
                encryptedData = random.string(from: alphabet, count: random.below(80))
                ivText = random.string(from: alphabet, count: random.below(30))
                keyText = random.string(from: alphabet, count: random.below(30))
            case 1:
                // Well-formed base64 of random bytes: exercises the cipher and the padding check.
                encryptedData = Data(random.bytes(16 * (random.below(6)))).base64EncodedString()
                ivText = Data(random.bytes(16)).base64EncodedString()
                keyText = Data(random.bytes([16, 16, 16, 8, 0, 32][random.below(6)])).base64EncodedString()
            default:
                // Random plaintexts properly encrypted: exercises the JSON and watermark checks.
                let fragments = [
                    #"{"#, #"}"#, #"""#, #"watermark"#, #":"#, #","#, #"appid"#, #"wxapp"#, "[", "]",
                    #"timestamp"#, "1700000000", "1e999", "-", "null", "\\u0000", "\u{FF}",
                ]
                var text = ""
                for _ in 0..<random.below(20) { text += fragments[random.below(fragments.count)] }
                var plaintext = Array(text.utf8)
                if random.below(4) == 0 { plaintext = random.bytes(random.below(64)) }
                let sealed = try? UserDataCrypto.encrypt(plaintext, sessionKey: key, iv: iv)
                encryptedData = sealed?.encryptedData ?? ""
                ivText = sealed?.iv ?? ""
                keyText = key.revealed
            }
            do {
                let data = try UserDataCrypto.decrypt(
                    encryptedData: encryptedData,
                    iv: ivText,
                    sessionKey: Secret(keyText),
                    appid: "wxapp",
                    now: Date(timeIntervalSince1970: 1_700_000_000),
                    window: window
                )
                #expect(data.watermark.appid == "wxapp")
                outcomes["ok", default: 0] += 1
            } catch {
                outcomes[error.kind.description, default: 0] += 1
            }
        }
        // Every stage was reached, so the loop really exercised the whole decoder.
        for kind in ["invalid_base64", "looks_url_encoded", "bad_key_length", "bad_padding", "not_json"] {
            #expect(outcomes[kind, default: 0] > 0, "no \(kind) in \(outcomes)")
        }
    }

    @Test func strictBase64AgreesWithFoundationOnValidInput() {
        var random = SeededGenerator(seed: 42)
        for _ in 0..<500 {
            let bytes = random.bytes(random.below(50))
            #expect(StrictBase64.decode(Data(bytes).base64EncodedString()) == bytes)
        }
    }
}

@Suite struct RawDataSignatureTests {
    /// WeChat's official rawData signature example, from "open data verification and decryption"
    /// (developers.weixin.qq.com/miniprogram/dev/framework/open-ability/signature.html and
    /// minigame/en/dev/tutorial/open-ability/signature.html); see WECHAT.md §A4. Checked with sha1sum.
    static let rawData =
        #"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","#
        + #""avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#
    static let sessionKey = Secret("HyVFkGl5F5OQWJZZaNzBBg==")
    static let signature = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"

    @Test func reproducesWeChatsOfficialSignature() {
        #expect(RawDataSignature.signature(rawData: Self.rawData, sessionKey: Self.sessionKey) == Self.signature)
        #expect(RawDataSignature.isValid(Self.signature, rawData: Self.rawData, sessionKey: Self.sessionKey))
        #expect(
            RawDataSignature.isValid(Self.signature.uppercased(), rawData: Self.rawData, sessionKey: Self.sessionKey)
        )
    }

    @Test func refusesAnythingElse() {
        let key = Self.sessionKey
        #expect(!RawDataSignature.isValid(Self.signature, rawData: Self.rawData + " ", sessionKey: key))
        #expect(
            !RawDataSignature.isValid(
                Self.signature,
                rawData: Self.rawData,
                sessionKey: Secret("tiihtNczf5v6AKRyjwEUhQ==")
            )
        )
        #expect(!RawDataSignature.isValid(String(Self.signature.dropLast()), rawData: Self.rawData, sessionKey: key))
        #expect(!RawDataSignature.isValid(Self.signature + "0", rawData: Self.rawData, sessionKey: key))
        #expect(!RawDataSignature.isValid("", rawData: Self.rawData, sessionKey: key))
        #expect(
            !RawDataSignature.isValid(
                "75e81ceda165f4ffa64f4068af58c64b8f54b88g",
                rawData: Self.rawData,
                sessionKey: key
            )
        )
        // A control byte 0x17 plus 32 would be '7': only A-F are folded, so it must not pass for the digit.
        #expect(
            !RawDataSignature.isValid(
                "\u{17}5e81ceda165f4ffa64f4068af58c64b8f54b88c",
                rawData: Self.rawData,
                sessionKey: key
            )
        )
    }
}
