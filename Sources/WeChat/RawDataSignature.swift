import Crypto
import Encodings

/// The signature a mini-program gets with `rawData` from `wx.getUserInfo`: hex `sha1(rawData + session_key)`.
///
/// The session_key is appended as its base64 text, not decoded. A match proves the profile came from
/// WeChat for the holder of this session_key; it says nothing about recency (use encryptedData's
/// watermark for that).
public enum RawDataSignature {
    /// The expected signature, lower-case hex.
    public static func signature(rawData: String, sessionKey: Secret) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array((rawData + sessionKey.revealed).utf8)))
    }

    /// Whether `signature` (hex, either case) is `sha1(rawData + session_key)`, compared in constant time.
    public static func isValid(_ signature: String, rawData: String, sessionKey: Secret) -> Bool {
        // Hex has no letters beyond A-F, so folding just those accepts either case and nothing else.
        let presented = signature.utf8.map { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? byte + 32 : byte
        }
        return ConstantTime.equals(presented, Array(self.signature(rawData: rawData, sessionKey: sessionKey).utf8))
    }
}
