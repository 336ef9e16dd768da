/// An app registered with the sandbox: the `appid` and `secret` its backend must present, and what kind
/// of app it is.
///
/// Every app belongs to the sandbox's one open-platform account, so a test user has one unionid across
/// all apps and a different openid in each.
public struct SandboxApp: Sendable, Hashable, Codable {
    /// The kinds of WeChat app, each with its own sign-in.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A mini-program: `wx.login` codes for `/sns/jscode2session`.
        case miniProgram = "mini"
        /// An official account: `/connect/oauth2/authorize` inside WeChat's browser.
        case officialAccount = "oa"
        /// An open-platform website app: QR login at `/connect/qrconnect`.
        case website = "web"
    }

    /// The app's id, e.g. `wx4f4bc4dec97d474b`.
    public var appid: String
    /// The app's AppSecret.
    public var secret: String
    /// What kind of app it is; a mini-program unless told otherwise.
    public var kind: Kind
    /// The host a web app's `redirect_uri` must have (official account: 网页授权域名; website app: the
    /// authorised domain). Nil accepts any host.
    public var redirectDomain: String?

    /// Creates an app with the given credentials.
    public init(appid: String, secret: String, kind: Kind = .miniProgram, redirectDomain: String? = nil) {
        self.appid = appid
        self.secret = secret
        self.kind = kind
        self.redirectDomain = redirectDomain
    }

    enum CodingKeys: String, CodingKey {
        case appid, secret, kind
        case redirectDomain = "redirect_domain"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.appid = try container.decode(String.self, forKey: .appid)
        self.secret = try container.decode(String.self, forKey: .secret)
        self.kind = try container.decodeIfPresent(Kind.self, forKey: .kind) ?? .miniProgram
        self.redirectDomain = try container.decodeIfPresent(String.self, forKey: .redirectDomain)
    }
}
