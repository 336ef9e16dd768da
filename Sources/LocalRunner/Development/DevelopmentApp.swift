import Encodings
import WeChatSandbox

/// The sandbox apps `sandbox`, `dev` and `demo` use when none is given, with secrets made fresh for each run.
enum DevelopmentApp {
    /// The mini-program's app id; it only exists in the sandbox.
    static let appID = "wxsandboxapp0001"
    /// The official account's app id (web sign-in inside WeChat).
    static let officialAccountID = "wxsandboxoa00001"
    /// The open-platform website app's id (QR sign-in in other browsers).
    static let websiteID = "wxsandboxweb0001"

    /// One app of each kind, mini-program first, each with a fresh secret.
    static func makeApps() -> [SandboxApp] {
        [
            SandboxApp(appid: appID, secret: makeSecret(), kind: .miniProgram),
            SandboxApp(appid: officialAccountID, secret: makeSecret(), kind: .officialAccount),
            SandboxApp(appid: websiteID, secret: makeSecret(), kind: .website),
        ]
    }

    /// The settings that point the functions at `apps` in the sandbox at `sandboxURL`: each kind's
    /// `…_APPID` and `…_SECRET` (from the first app of that kind), its `…_SECRET_FILE` emptied (unset),
    /// and `WECHAT_API_BASE` and `WECHAT_OPEN_BASE`.
    static func environment(apps: [SandboxApp], sandboxURL: String) -> [String: String] {
        var variables = ["WECHAT_API_BASE": sandboxURL, "WECHAT_OPEN_BASE": sandboxURL]
        for kind in SandboxApp.Kind.allCases {
            guard let app = apps.first(where: { $0.kind == kind }) else { continue }
            variables[kind.variablePrefix + "_APPID"] = app.appid
            variables[kind.variablePrefix + "_SECRET"] = app.secret
            variables[kind.variablePrefix + "_SECRET_FILE"] = ""
        }
        return variables
    }

    /// Every variable ``environment(apps:sandboxURL:)`` can set, whichever apps are given.
    static let variableNames: [String] =
        ["WECHAT_API_BASE", "WECHAT_OPEN_BASE"]
        + SandboxApp.Kind.allCases.flatMap { kind in
            ["_APPID", "_SECRET", "_SECRET_FILE"].map { kind.variablePrefix + $0 }
        }

    /// `byteCount` random bytes as lower-case hex, from the system's secure generator.
    static func randomHex(byteCount: Int) -> String { Hex.random(byteCount: byteCount) }

    /// A fresh AppSecret, 32 hex characters like WeChat's.
    static func makeSecret() -> String { randomHex(byteCount: 16) }

    /// A fresh JWT signing key: 32 random bytes, written as 64 hex characters.
    static func makeJWTSecret() -> String { randomHex(byteCount: 32) }
}

extension SandboxApp.Kind {
    /// How the functions' settings name this kind of app: `WECHAT` (`WECHAT_APPID`), `WECHAT_OA`, `WECHAT_WEB`.
    var variablePrefix: String {
        switch self {
        case .miniProgram: "WECHAT"
        case .officialAccount: "WECHAT_OA"
        case .website: "WECHAT_WEB"
        }
    }

    /// What the kind is, for people.
    var title: String {
        switch self {
        case .miniProgram: "mini-program"
        case .officialAccount: "official account (sign-in inside WeChat)"
        case .website: "website app (QR sign-in)"
        }
    }
}
